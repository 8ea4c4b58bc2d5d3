package model

import (
	"fmt"
	"math/rand/v2"

	"github.com/relora-go/relora-go/engine"
)

// Projection is one of the seven Linears of a block. model.Dense is the
// plain full-rank one; relora wraps them with low-rank factors.
type Projection interface {
	// Apply records y = x·Wᵀ (plus whatever the projection adds) on g.
	Apply(g *engine.Graph, x *engine.Tensor) *engine.Tensor
	// Tensors lists the projection's tensors with their names relative to
	// the projection (".weight", ".lora_A.weight", ...).
	Tensors() []Named
}

// Named is a tensor with its Hugging Face name.
type Named struct {
	Name string
	T    *engine.Tensor
}

// Dense is a full-rank Linear without bias: W [out, in].
type Dense struct{ W *engine.Tensor }

// Apply records y = x·Wᵀ.
func (d *Dense) Apply(g *engine.Graph, x *engine.Tensor) *engine.Tensor { return g.Linear(x, d.W) }

// Tensors is the weight alone.
func (d *Dense) Tensors() []Named { return []Named{{".weight", d.W}} }

// Block is one decoder layer.
type Block struct {
	AttnNorm, MLPNorm *engine.Tensor
	Q, K, V, O        Projection
	Gate, Up, Down    Projection
}

// ProjNames are the Hugging Face names of a block's seven projections, in
// the order Projections returns them.
var ProjNames = [7]string{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
	"mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"}

// Projections returns pointers to the block's seven projection slots.
func (b *Block) Projections() [7]*Projection {
	return [7]*Projection{&b.Q, &b.K, &b.V, &b.O, &b.Gate, &b.Up, &b.Down}
}

// Model is a LLaMA decoder with an untied output head.
type Model struct {
	Config Config
	Embed  *engine.Tensor // [vocab, d]
	Blocks []Block
	Norm   *engine.Tensor // [d]
	Head   *engine.Tensor // [vocab, d]
}

// New allocates a model's parameters (data only, zero; see Init and
// engine.AllocGrads): the embedding, norms and head from one slab, each
// block's seven projection weights from a slab of their own, so that a
// block whose weights are converted to bfloat16 (engine.Tensor.StoreBF16,
// under relora's --dtype bfloat16) frees its float32 memory on its own.
func New(c Config) *Model {
	if err := c.Validate(); err != nil {
		panic("model.New: " + err.Error())
	}
	d, f, v := c.Hidden, c.Intermediate, c.Vocab
	arena := engine.NewArena(2*v*d + (2*c.Layers+1)*d)
	m := &Model{Config: c}
	m.Embed = arena.New("model.embed_tokens.weight", false, v, d)
	for l := 0; l < c.Layers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		proj := engine.NewArena(4*d*d + 3*d*f)
		dense := func(name string, out, in int) Projection {
			return &Dense{W: proj.New(p+name+".weight", false, out, in)}
		}
		m.Blocks = append(m.Blocks, Block{
			AttnNorm: arena.New(p+"input_layernorm.weight", false, d),
			MLPNorm:  arena.New(p+"post_attention_layernorm.weight", false, d),
			Q:        dense(ProjNames[0], d, d),
			K:        dense(ProjNames[1], d, d),
			V:        dense(ProjNames[2], d, d),
			O:        dense(ProjNames[3], d, d),
			Gate:     dense(ProjNames[4], f, d),
			Up:       dense(ProjNames[5], f, d),
			Down:     dense(ProjNames[6], d, f),
		})
	}
	m.Norm = arena.New("model.norm.weight", false, d)
	m.Head = arena.New("lm_head.weight", false, v, d)
	return m
}

// Init draws every Linear and the embedding from N(0, initializer_range²)
// and sets the norm weights to 1, in Tensors order.
func (m *Model) Init(rng *rand.Rand) {
	for _, n := range m.Tensors() {
		if len(n.T.Shape) == 1 {
			for i := range n.T.Data {
				n.T.Data[i] = 1
			}
			continue
		}
		for i := range n.T.Data {
			n.T.Data[i] = float32(rng.NormFloat64() * m.Config.InitRange)
		}
	}
}

// Tensors lists every tensor of the model with its Hugging Face name, in a
// fixed order (embedding, blocks, final norm, head). Wrapped projections
// contribute their extra tensors (lora_A, lora_B) next to their weight.
func (m *Model) Tensors() []Named {
	out := []Named{{m.Embed.Name, m.Embed}}
	for l := range m.Blocks {
		b := &m.Blocks[l]
		p := fmt.Sprintf("model.layers.%d.", l)
		out = append(out, Named{p + "input_layernorm.weight", b.AttnNorm})
		for i, slot := range b.Projections() {
			for _, n := range (*slot).Tensors() {
				out = append(out, Named{p + ProjNames[i] + n.Name, n.T})
			}
		}
		out = append(out, Named{p + "post_attention_layernorm.weight", b.MLPNorm})
	}
	return append(out, Named{m.Norm.Name, m.Norm}, Named{m.Head.Name, m.Head})
}

// Params lists the model's tensors in Tensors order, without names (for
// engine.ToDevice and FromDevice).
func (m *Model) Params() []*engine.Tensor {
	var ts []*engine.Tensor
	for _, n := range m.Tensors() {
		ts = append(ts, n.T)
	}
	return ts
}

// Forward is a recorded forward pass: fill Inputs and Targets (batch·seq
// token ids each), then run the graph.
type Forward struct {
	Graph   *engine.Graph
	Inputs  []int32
	Targets []int32
	Logits  *engine.Tensor
	Loss    engine.Loss
}

// Build records the model's forward pass and loss for a batch of
// sequences of length seq on g.
func (m *Model) Build(g *engine.Graph, batch, seq int) *Forward {
	c := m.Config
	f := &Forward{Graph: g, Inputs: make([]int32, batch*seq), Targets: make([]int32, batch*seq)}
	eps := float32(c.NormEps)
	g.SetScope("model.embed_tokens")
	h := g.Embedding(m.Embed, f.Inputs)
	for l := range m.Blocks {
		b := &m.Blocks[l]
		g.SetScope(fmt.Sprintf("model.layers.%d.self_attn", l))
		x := g.RMSNorm(h, b.AttnNorm, eps)
		q := g.RoPE(b.Q.Apply(g, x), seq, c.Heads)
		k := g.RoPE(b.K.Apply(g, x), seq, c.Heads)
		v := b.V.Apply(g, x)
		h = g.Add(h, b.O.Apply(g, g.Attention(q, k, v, seq, c.Heads)))
		g.SetScope(fmt.Sprintf("model.layers.%d.mlp", l))
		x = g.RMSNorm(h, b.MLPNorm, eps)
		h = g.Add(h, b.Down.Apply(g, g.SwiGLU(b.Gate.Apply(g, x), b.Up.Apply(g, x))))
	}
	g.SetScope("lm_head")
	h = g.RMSNorm(h, m.Norm, eps)
	f.Logits = g.Linear(h, m.Head)
	f.Loss = g.CrossEntropy(f.Logits, f.Targets)
	g.SetScope("")
	return f
}
