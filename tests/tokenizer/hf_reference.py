#!/usr/bin/env python3
"""The expected ids of tests/test_tokenizer.c, from Hugging Face `tokenizers`.

Runs where HF `tokenizers` (0.23) is installed (the GPU machine):

    python3 tests/tokenizer/hf_reference.py CACHE_DIR OUT_DIR

CACHE_DIR holds llama2/, llama3/ and qwen2/ as scripts/fetch_tokenizers.sh
lays them out. Writes into OUT_DIR (then committed under tests/fixtures/tokenizer/):

  cases.json    for each hand-made case of tests/tokenizer/cases.json and each
                tokenizer ("llama2", "llama3", "qwen2"): the full ids of encode(text)
                with add_special_tokens False ("ids") and True ("ids_special"),
                with special-token parsing off (encode_special_tokens = True,
                "ids_noparse"), and decode(ids_special) with
                skip_special_tokens False ("decode") and True ("decode_skip").
                "llama3_meta": the same cases with add_special_tokens True
                through the Llama 3 file whose post_processor is replaced by
                tests/tokenizer/llama3_meta_post_processor.json (Meta's own
                layout, which adds <|begin_of_text|>; the npm file's
                ByteLevel post-processor adds nothing).
                "tiny": tests/tokenizer/tiny_cases.json through
                tests/tokenizer/tiny_tokenizer.json (written for this test:
                added tokens with lstrip, rstrip, normalized, single_word, a
                non-special one inside the vocabulary), fields as above.
                "decode_ids": id sequences that split or break UTF-8 (byte
                tokens of Llama 2, single-byte tokens of Llama 3 and Qwen2,
                special tokens between them): their ids, decode and decode_skip.
                "nfc": Qwen2's NFC normalizer (HF's own, from the
                unicode-normalization-alignments crate, whose tables are of
                an older Unicode than Python's unicodedata). Every code point
                where HF's NFC differs from unicodedata's on one of the probes
                of nfc_probes() (the character, its NFD, after "a" and before
                U+0301 or U+0316) is listed in "differs" (code points), and each
                such probe string with HF's NFC text ("nfc") and Qwen2's ids
                (encode, specials parsed, nothing added) in "rows", with a few
                decomposed texts ("e\u0301" ...) first.
  corpus_llama2.txt, corpus_llama3.txt, corpus_qwen2.txt
                one line per record of tests/tokenizer/make_corpus.py's corpus:
                  RECORD N H N_SPECIAL H_SPECIAL N_NOPARSE H_NOPARSE D D_SKIP
                N / H: id count and hash of encode(text, add_special_tokens=False),
                _SPECIAL with add_special_tokens=True, _NOPARSE with special-token
                parsing off (add_special_tokens=False); D / D_SKIP: hash of the
                UTF-8 bytes of decode(ids_special, skip_special_tokens=False/True).
                Hashes: 64-bit FNV-1a (offset 0xcbf29ce484222325, prime
                0x100000001b3), over the ids as little-endian int32, or over the
                text's bytes; written as 16 hex digits.
  summary.json  versions, record count, and HF's own open time and encode
                speed on the corpus (for docs/tokenizer.md).
"""
import json
import os
import struct
import sys
import time

import tokenizers
from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_corpus  # noqa: E402


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def ids_hash(ids):
    return "%016x" % fnv1a64(struct.pack("<%di" % len(ids), *ids))


def text_hash(text):
    return "%016x" % fnv1a64(text.encode("utf-8"))


def encode_modes(tok, text):
    tok.encode_special_tokens = False
    plain = tok.encode(text, add_special_tokens=False).ids
    special = tok.encode(text, add_special_tokens=True).ids
    tok.encode_special_tokens = True
    noparse = tok.encode(text, add_special_tokens=False).ids
    tok.encode_special_tokens = False
    return plain, special, noparse


def case_rows(tok, texts):
    rows = []
    for text in texts:
        plain, special, noparse = encode_modes(tok, text)
        rows.append({"text": text, "ids": plain, "ids_special": special, "ids_noparse": noparse,
                     "decode": tok.decode(special, skip_special_tokens=False),
                     "decode_skip": tok.decode(special, skip_special_tokens=True)})
    return rows


def byte_level_chars():
    # GPT-2's bytes_to_unicode.
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


DECODE_LLAMA2 = [["<0xF0>", "<0x9F>", "<0x98>", "<0x80>"], ["<0xF0>", "<0x9F>", "\u2581a"],
                 ["\u2581a", "<0xE4>", "<0xBD>"], ["<0xFF>", "<0xE4>", "<0xBD>", "<0xA0>", "\u2581b"],
                 ["\u2581", "\u2581", "\u2581a"], ["<s>", "\u2581a", "</s>"],
                 ["<0xE4>", "</s>", "<0xBD>", "<0xA0>"], ["\u2581", "<0x41>"], ["<0x20>", "\u2581x"]]
DECODE_LLAMA3 = [[[0xF0], [0x9F], [0x98], [0x80]], [[0xF0], [0x9F], [0x41]], [[0xED], [0xA0], [0x80]],
                 [[0x41], [0xE4], [0xBD]], [[0xE4], "<|eot_id|>", [0xBD], [0xA0]],
                 [[0xC3], [0xC3], [0xA9]], [[0xFF], [0xFE], [0x41]], [[0xF4], [0x90], [0x80], [0x80]]]
DECODE_QWEN2 = [[[0xF0], [0x9F], [0x98], [0x80]], [[0xF0], [0x9F], [0x41]], [[0xED], [0xA0], [0x80]],
                [[0x41], [0xE4], [0xBD]], [[0xE4], "<|im_end|>", [0xBD], [0xA0]],
                [[0xE4], "<tool_call>", [0xBD], [0xA0]], [[0xC3], [0xC3], [0xA9]],
                ["<|endoftext|>", [0xFF], "<|fim_pad|>", [0x41]]]


def nfc_probes(c):
    import unicodedata
    ch = chr(c)
    return [ch, unicodedata.normalize("NFD", ch), "a" + ch + "\u0301", "a" + ch + "\u0316"]


def nfc_rows(tok):
    """HF's NFC against unicodedata's over every code point (see the docstring)."""
    import unicodedata
    from tokenizers import normalizers
    nfc = normalizers.NFC()
    differs, texts = [], ["e\u0301", "cafe\u0301 Zu\u0308rich", "\u212b\u2126\u1e9b\u0323",
                          "\u1100\u1161\u11a8", "o\u0308\u0304<|im_end|>\u0304"]
    for c in range(0x110000):
        if 0xD800 <= c < 0xE000:
            continue
        bad = [p for p in nfc_probes(c) if nfc.normalize_str(p) != unicodedata.normalize("NFC", p)]
        if bad:
            differs.append(c)
            texts += bad
    rows = [{"text": t, "nfc": nfc.normalize_str(t), "ids": tok.encode(t, add_special_tokens=False).ids}
            for t in texts]
    return {"unidata_version": unicodedata.unidata_version, "differs": differs, "rows": rows}


def decode_rows(tok, seqs):
    chars = byte_level_chars()
    rows = []
    for seq in seqs:
        ids = [tok.token_to_id(p if isinstance(p, str) else "".join(chars[b] for b in p))
               for p in seq]
        assert None not in ids, seq
        rows.append({"ids": ids, "decode": tok.decode(ids, skip_special_tokens=False),
                     "decode_skip": tok.decode(ids, skip_special_tokens=True)})
    return rows


def main():
    cache, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    cases = json.load(open(os.path.join(HERE, "cases.json"), encoding="utf-8"))
    records = make_corpus.corpus()
    summary = {"tokenizers": tokenizers.__version__, "records": len(records),
               "corpus_bytes": len("\x1e".join(records).encode("utf-8"))}
    result = {"tokenizers": tokenizers.__version__}
    for name in ("llama2", "llama3", "qwen2"):
        path = os.path.join(cache, name, "tokenizer.json")
        t0 = time.perf_counter()
        tok = Tokenizer.from_file(path)
        summary[name + "_open_s"] = time.perf_counter() - t0
        result[name] = case_rows(tok, cases)
        lines = ["# RECORD N H N_SPECIAL H_SPECIAL N_NOPARSE H_NOPARSE D D_SKIP "
                 "(tests/tokenizer/hf_reference.py, tokenizers %s)" % tokenizers.__version__]
        for i, text in enumerate(records):
            plain, special, noparse = encode_modes(tok, text)
            lines.append("%d %d %s %d %s %d %s %s %s" % (
                i, len(plain), ids_hash(plain), len(special), ids_hash(special), len(noparse),
                ids_hash(noparse), text_hash(tok.decode(special, skip_special_tokens=False)),
                text_hash(tok.decode(special, skip_special_tokens=True))))
        with open(os.path.join(out, "corpus_%s.txt" % name), "w") as f:
            f.write("\n".join(lines) + "\n")
        whole = "\n".join(records)
        t0 = time.perf_counter()
        n = len(tok.encode(whole, add_special_tokens=False).ids)
        dt = time.perf_counter() - t0
        summary[name + "_encode_MB_s"] = len(whole.encode("utf-8")) / dt / 1e6
        summary[name + "_whole_corpus_ids"] = n
    meta = json.load(open(os.path.join(cache, "llama3", "tokenizer.json"), encoding="utf-8"))
    meta["post_processor"] = json.load(open(os.path.join(HERE, "llama3_meta_post_processor.json")))
    tok = Tokenizer.from_str(json.dumps(meta))
    result["llama3_meta"] = [{"text": t, "ids_special": tok.encode(t, add_special_tokens=True).ids}
                             for t in cases]
    result["decode_ids"] = {
        "llama2": decode_rows(Tokenizer.from_file(os.path.join(cache, "llama2", "tokenizer.json")),
                              DECODE_LLAMA2),
        "llama3": decode_rows(Tokenizer.from_file(os.path.join(cache, "llama3", "tokenizer.json")),
                              DECODE_LLAMA3),
        "qwen2": decode_rows(Tokenizer.from_file(os.path.join(cache, "qwen2", "tokenizer.json")),
                             DECODE_QWEN2)}
    t0 = time.perf_counter()
    result["nfc"] = nfc_rows(Tokenizer.from_file(os.path.join(cache, "qwen2", "tokenizer.json")))
    summary["nfc_scan_s"] = time.perf_counter() - t0
    summary["nfc_differs"] = len(result["nfc"]["differs"])
    tiny = Tokenizer.from_file(os.path.join(HERE, "tiny_tokenizer.json"))
    result["tiny"] = case_rows(tiny, json.load(open(os.path.join(HERE, "tiny_cases.json"))))
    with open(os.path.join(out, "cases.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=True, separators=(",", ":"))
        f.write("\n")
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
