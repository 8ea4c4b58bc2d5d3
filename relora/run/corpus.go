package run

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	relorago "github.com/relora-go/relora-go"
	"github.com/relora-go/relora-go/data"
	"github.com/relora-go/relora-go/data/tokenizer"
)

// Corpus is tokenized training and validation data.
type Corpus struct {
	Train, Val             []int32
	TrainSource, ValSource string
	Vocab                  int
	// Tokenizer encodes and decodes the ids; TokenizerJSON is its
	// tokenizer.json (nil for the byte tokenizer), for the run directory.
	Tokenizer     tokenizer.Tokenizer
	TokenizerJSON []byte
}

// LoadCorpus reads and tokenizes the run's data with its --tokenizer, or
// with the tokenizer.json that comes with an --init_from model.
func LoadCorpus(opts Options) (*Corpus, error) {
	tok := opts.Tokenizer
	if tok == "" && opts.InitFrom != "" {
		tok = tokenizer.NextTo(opts.InitFrom)
	}
	return loadCorpus(opts, tok)
}

// loadCorpus reads the run's data with a tokenizer: "" (none given),
// "bytes", tokenizer.Embedded, or the path of a tokenizer.json.
//
//   - no --data: the embedded Brown excerpt and Brown val; with a tokenizer,
//     documents each followed by its EOD, else the byte tokenizer on the
//     raw text;
//   - --data DIR holding train.bin (a directory written by relora-cpu
//     prepare): the shards, with DIR/val.bin as validation data and
//     DIR/tokenizer.json as the tokenizer; a single .bin file works too;
//   - --data text (.txt, .txt.gz, or any path ReadDocuments takes): the
//     byte tokenizer on the file's bytes, or, with a tokenizer, its
//     documents each followed by EOD.
//
// Without --val_data (or with an empty val.bin) the last 5% of the
// training stream is held out. Shards are converted to []int32 in memory (4
// bytes a token, twice a 2-byte shard), so that the held-out split can be
// a slice; data.Batcher can also read a mapped *data.Shard directly.
func loadCorpus(opts Options, tokName string) (*Corpus, error) {
	c := &Corpus{}
	if tokName != "" {
		var err error
		if c.Tokenizer, c.TokenizerJSON, err = tokenizer.Load(tokName); err != nil {
			return nil, err
		}
	}
	haveTok := c.Tokenizer != nil
	var err error
	switch {
	case opts.Data == "":
		if c.Tokenizer == nil { // the embedded corpus comes with its BPE
			if c.Tokenizer, c.TokenizerJSON, err = tokenizer.Load(tokenizer.Embedded); err != nil {
				return nil, err
			}
		}
		c.TrainSource = "embedded Brown train excerpt"
		text, err := data.DecodeGzip(c.TrainSource, relorago.DefaultTrain)
		if err != nil {
			return nil, err
		}
		c.Train = encodeText(c.Tokenizer, text, opts.Threads)
		if opts.ValData == "" {
			c.ValSource = "embedded Brown val"
			text, err := data.DecodeGzip(c.ValSource, relorago.DefaultVal)
			if err != nil {
				return nil, err
			}
			c.Val = encodeText(c.Tokenizer, text, opts.Threads)
		}
	case isShardSource(opts.Data):
		if c.Train, c.TrainSource, err = c.loadShards(opts.Data, haveTok); err != nil {
			return nil, err
		}
		if opts.ValData == "" {
			if st, err := os.Stat(opts.Data); err == nil && st.IsDir() {
				vp := filepath.Join(opts.Data, data.ValShard)
				if _, err := os.Stat(vp); err == nil {
					if c.Val, c.ValSource, err = c.loadShards(vp, true); err != nil {
						return nil, err
					}
				}
			}
		}
	default:
		if c.Tokenizer == nil {
			c.Tokenizer = tokenizer.ByteTokenizer{}
		}
		c.TrainSource = opts.Data
		if c.Train, err = readTokens(c.Tokenizer, opts.Data, opts.Threads); err != nil {
			return nil, err
		}
	}
	c.Vocab = c.Tokenizer.VocabSize()
	if opts.ValData != "" {
		c.ValSource = opts.ValData
		if isShardSource(opts.ValData) {
			if c.Val, c.ValSource, err = c.loadShards(opts.ValData, true); err != nil {
				return nil, err
			}
		} else if c.Val, err = readTokens(c.Tokenizer, opts.ValData, opts.Threads); err != nil {
			return nil, err
		}
	}
	if len(c.Val) == 0 { // hold out the last 5% of the training stream
		cut := len(c.Train) - len(c.Train)/20
		c.Train, c.Val = c.Train[:cut], c.Train[cut:]
		c.ValSource = c.TrainSource + " (last 5%)"
	}
	return c, nil
}

// isShardSource reports whether path is a token shard or a prepared
// directory (one holding train.bin).
func isShardSource(path string) bool {
	if strings.HasSuffix(path, ".bin") {
		return true
	}
	st, err := os.Stat(path)
	if err != nil || !st.IsDir() {
		return false
	}
	_, err = os.Stat(filepath.Join(path, data.TrainShard))
	return err == nil
}

// loadShards reads a shard (or a prepared directory's train.bin) into
// memory. The first shard fixes the tokenizer (the directory's
// tokenizer.json, else the byte tokenizer for a 256-token vocabulary);
// later ones, and a tokenizer given explicitly, must agree on the
// vocabulary size.
func (c *Corpus) loadShards(path string, haveTok bool) ([]int32, string, error) {
	file := path
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		file = filepath.Join(path, data.TrainShard)
		if tp := filepath.Join(path, tokenizer.FileName); !haveTok && c.Tokenizer == nil {
			if b, err := os.ReadFile(tp); err == nil {
				tok, err := tokenizer.ParseTokenizerJSON(b)
				if err != nil {
					return nil, "", fmt.Errorf("tokenizer %s: %v", tp, err)
				}
				c.Tokenizer, c.TokenizerJSON = tok, b
			}
		}
	}
	if c.Tokenizer == nil {
		h, err := shardHeader(file)
		if err != nil {
			return nil, "", err
		}
		if h.Vocab != 256 {
			return nil, "", fmt.Errorf("token shard %s: vocabulary of %d tokens but no tokenizer.json next to it: give --tokenizer", file, h.Vocab)
		}
		c.Tokenizer = tokenizer.ByteTokenizer{}
	}
	toks, err := readShard(file, c.Tokenizer.VocabSize())
	return toks, file, err
}

func shardHeader(file string) (data.ShardHeader, error) {
	s, err := data.OpenShard(file)
	if err != nil {
		return data.ShardHeader{}, err
	}
	defer s.Close()
	return s.ShardHeader, nil
}

// readShard reads a whole shard into memory after checking every token
// against the tokenizer's vocabulary.
func readShard(file string, vocab int) ([]int32, error) {
	s, err := data.OpenShard(file)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if s.Vocab != vocab {
		return nil, fmt.Errorf("token shard %s: vocabulary of %d tokens, but the tokenizer has %d", file, s.Vocab, vocab)
	}
	if s.Len() == 0 {
		return nil, nil
	}
	return s.Int32(), nil
}

// EmbeddedVal is the embedded Brown validation text encoded with tok, as a
// run without --data validates on (relora-cpu eval's default).
func EmbeddedVal(tok tokenizer.Tokenizer, threads int) ([]int32, string, error) {
	const src = "embedded Brown val"
	text, err := data.DecodeGzip(src, relorago.DefaultVal)
	if err != nil {
		return nil, "", err
	}
	return encodeText(tok, text, threads), src, nil
}

// ReadTokens reads evaluation data: a token shard, a prepared directory's
// val.bin, or text encoded with tok (as the trainer encodes its data). It
// returns the tokens and the file they came from.
func ReadTokens(path string, tok tokenizer.Tokenizer, threads int) ([]int32, string, error) {
	file := path
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		if _, err := os.Stat(filepath.Join(path, data.ValShard)); err == nil {
			file = filepath.Join(path, data.ValShard)
		}
	}
	if strings.HasSuffix(file, ".bin") {
		toks, err := readShard(file, tok.VocabSize())
		return toks, file, err
	}
	toks, err := readTokens(tok, path, threads)
	return toks, path, err
}

// readTokens tokenizes text data: the bytes of a .txt/.txt.gz file with the
// byte tokenizer (as before shards existed), else documents with EOD.
func readTokens(tok tokenizer.Tokenizer, path string, threads int) ([]int32, error) {
	if _, ok := tok.(tokenizer.ByteTokenizer); ok && (strings.HasSuffix(path, ".txt") || strings.HasSuffix(path, ".txt.gz")) {
		text, err := data.ReadText(path)
		if err != nil {
			return nil, err
		}
		if len(text) == 0 {
			return nil, fmt.Errorf("data file %s is empty", path)
		}
		return data.ToInt32(tok.Encode(text)), nil
	}
	var out []int32
	err := data.EncodeCorpus([]string{path}, tok, threads, nil, func(_ int, ids []int) error {
		for _, id := range ids {
			out = append(out, int32(id))
		}
		return nil
	})
	return out, err
}

// encodeText encodes in-memory text: its bytes with the byte tokenizer,
// else its documents (split at empty lines) each followed by the
// tokenizer's EOD.
func encodeText(tok tokenizer.Tokenizer, text []byte, threads int) []int32 {
	if _, ok := tok.(tokenizer.ByteTokenizer); ok {
		return data.ToInt32(tok.Encode(text))
	}
	return data.ToInt32(data.EncodeDocumentsParallel(tok, data.SplitTextDocuments(text), threads))
}
