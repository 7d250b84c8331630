// Regenerates golden.json: the ids, tokens and offsets (in characters) that
// Hugging Face tokenizers gives for texts.json with each tokenizer of this
// folder, through its Node binding (npm "tokenizers", the Rust library).
//
//   npm install --prefix /tmp/hf tokenizers@0.23.2
//   NODE_PATH=/tmp/hf/node_modules node golden.cjs
//
// gpt2-roberta is not a file: it is gpt2/tokenizer.json with RoBERTa's
// pre- and post-processing (prefix space, <s> </s> around, trimmed
// offsets), built the same way by robertaVariant in ../../real_test.go.
"use strict";
const fs = require("fs");
const path = require("path");
const zlib = require("zlib");
const { Tokenizer } = require("tokenizers");

const dir = __dirname;
const read = (name) => JSON.parse(zlib.gunzipSync(fs.readFileSync(path.join(dir, name, "tokenizer.json.gz"))).toString("utf8"));

const configs = {
  gpt2: read("gpt2"),
  "mistral-7b": read("mistral-7b"),
  "qwen2.5": read("qwen2.5"),
  "t5-small": read("t5-small"),
};
const roberta = read("gpt2");
roberta.pre_tokenizer = { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true };
roberta.post_processor = {
  type: "RobertaProcessing",
  sep: ["<|endoftext|>", 50256],
  cls: ["<|endoftext|>", 50256],
  trim_offsets: true,
  add_prefix_space: true,
};
configs["gpt2-roberta"] = roberta;

const { texts, pairs } = JSON.parse(fs.readFileSync(path.join(dir, "texts.json"), "utf8"));
const pkg = require("tokenizers/package.json");

(async () => {
  const out = { oracle: `npm tokenizers ${pkg.version} (Hugging Face tokenizers)`, tokenizers: {} };
  for (const [name, cfg] of Object.entries(configs)) {
    const tok = Tokenizer.fromString(JSON.stringify(cfg));
    const single = [];
    for (const text of texts) {
      const e = await tok.encode(text);
      single.push({ ids: e.getIds(), tokens: e.getTokens(), offsets: e.getOffsets() });
    }
    const pair = [];
    for (const [a, b] of pairs) {
      const e = await tok.encode(a, b);
      pair.push({ ids: e.getIds(), tokens: e.getTokens(), offsets: e.getOffsets(), type_ids: e.getTypeIds() });
    }
    out.tokenizers[name] = { single, pair };
  }
  fs.writeFileSync(path.join(dir, "golden.json"), JSON.stringify(out) + "\n");

})();
