#!/usr/bin/env python3
"""Writes the tokenizer exactness corpus: >= 1 MB of varied UTF-8 text in
records separated by the byte 0x1E (ASCII record separator, which no
record contains), so records may hold newlines, \\r\\n and whitespace runs.

Deterministic: its own generator (splitmix64), no numpy, no dict-order or
hash-seed dependence, so the C test (which runs this script through CTest)
and bench/hf_tokenize.py on the GPU machine see the same bytes. Changing
anything here changes every record: regenerate the fixtures
(tests/fixtures/tokenizer/) with tests/tokenizer/hf_reference.py.

    python3 tests/tokenizer/make_corpus.py OUT_FILE [--records N]
"""
import sys

MASK = (1 << 64) - 1


class Rng:
    def __init__(self, seed):
        self.x = seed & MASK

    def next(self):
        self.x = (self.x + 0x9E3779B97F4A7C15) & MASK
        z = self.x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def below(self, n):
        return self.next() % n

    def pick(self, seq):
        return seq[self.below(len(seq))]

    def chance(self, num, den):
        return self.below(den) < num


ENGLISH = ("the of and to in is was that for it with as his on be at by had are but from or "
           "have an they which one you were her all she there would their we him been has when "
           "who will more no if out so said what up its about into than them can only other new "
           "some could time these two may then do first any my now such like our over man me "
           "even most made after also did many before must through back years where much your "
           "way well down should because each just those people Mr how too little state good "
           "very make world still own see men work long get here between both life being under "
           "never day same another know while last might us great old year off come since "
           "against go came right used take three tokenizer's don't we'll they're I'm you've "
           "it'd HTTP JSON GPU's McDonald O'Brien naïve café résumé coöperate façade Zürich").split()
PUNCT = [".", ",", ";", ":", "!", "?", "...", " -", " —", "'", "\"", "(", ")", "[", "]"]
CODE = [
    "def f(x):\n    return x * 2 + 1\n",
    "for (int i = 0; i < n; ++i) {\n\tsum += a[i] * b[i];\n}\n",
    "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 42); return 0; }\n",
    "const x = await fetch(`/api/v1/items?id=${id}`);\r\n",
    "if x != nil && len(x.Items) > 0 {\n        log.Printf(\"%v\", x)\n}\n",
    "SELECT name, COUNT(*) FROM users WHERE age >= 18 GROUP BY name;\n",
    "    \t  mixed_indent = {'a': [1, 2, 3], \"b\": None}  # comment\n",
    "<div class=\"row\"><span>&nbsp;x &lt; y</span></div>\n",
    "fn main() -> Result<(), Box<dyn Error>> { Ok(()) }\n",
    "$ ls -la /usr/local/bin | grep -E '^-rwx' && echo ok\n",
]
CJK = ("我们 今天 天气 很好 北京 大学 计算机 科学 人工智能 语言 模型 東京 日本語 の テキスト "
       "です ひらがな カタカナ 한국어 텍스트 안녕하세요 감사합니다 漢字 龍 鬱 齉 𠀀 𪚥 𩸽").split()
CYRILLIC = "привет мир Москва русский язык программирование Ёлка ЖЖ щука Україна ґанок".split()
ARABIC = "مرحبا بالعالم العربية لغة السلام عليكم ١٢٣ ٤٥٦".split()
HEBREW = "שלום עולם עברית שָׁלוֹם תודה".split()
DEVANAGARI = "नमस्ते दुनिया हिन्दी भाषा क्षत्रिय श्री ज्ञान".split()
OTHER = "ελληνικά Ωμέγα ภาษาไทย ສະບາຍດີ ქართული Հայերեն ᚠᚢᚦ ꦗꦮ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ℌ𝔢𝔩𝔩𝔬".split()
EMOJI = ["😀", "🎉", "👍", "👍🏽", "👩‍💻", "👨‍👩‍👧‍👦", "🏳️‍🌈", "❤️", "🇫🇷", "🇯🇵", "🤦🏼‍♂️", "🧑🏿‍🚀",
         "☕", "✨", "🔥", "1️⃣", "🫠", "🐈‍⬛", "👁️‍🗨️"]
COMBINING = ["e\u0301", "a\u0308", "n\u0303", "o\u0302\u0323", "Z\u0337\u0336\u0335", "q\u0307\u0323",
             "\u0301", "i\u0307", "\u093f", "\u0e49", "x\u20dd"]
SPACES = [" ", "  ", "   ", "\t", "\n", "\r\n", "\n\n", " \n", "\u00a0", "\u3000", "\u2028",
          "\u0085", "\u200b", "\ufeff", "\u2003", " \t ", "\r", "\u180e", "\u202f"]
SPECIAL = ["<s>", "</s>", "<unk>", "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>",
           "<|start_header_id|>", "<|end_header_id|>", "<|reserved_special_token_3|>", "<s",
           "</s", "<|eot_id", "<<s>>", "<|begin_of_text|><|eot_id|>", " <s> ", "\n</s>\n"]


def number(r):
    k = r.below(6)
    if k == 0:
        return str(r.below(1000))
    if k == 1:
        return "".join(str(r.below(10)) for _ in range(5 + r.below(60)))
    if k == 2:
        return "%d.%0*d" % (r.below(100000), 2 + r.below(4), r.below(10000))
    if k == 3:
        return "{:,}".format(r.below(10**12))
    if k == 4:
        return "0x%x" % r.next()
    return "-%de%d" % (r.below(1000), r.below(40))


def prose(r, n):
    out = []
    for i in range(n):
        w = r.pick(ENGLISH)
        if i == 0 or r.chance(1, 12):
            w = w[:1].upper() + w[1:]
        if r.chance(1, 25):
            w = w.upper()
        out.append(w)
        if r.chance(1, 8):
            out.append(r.pick(PUNCT))
        out.append(" " if not r.chance(1, 30) else r.pick(SPACES))
    return "".join(out)


def script_words(r, words, n, sep=" "):
    return sep.join(r.pick(words) for _ in range(n))


def record(r):
    kind = r.below(14)
    if kind <= 2:
        return prose(r, 20 + r.below(120))
    if kind == 3:
        return "".join(r.pick(CODE) for _ in range(1 + r.below(5)))
    if kind == 4:
        return " ".join(number(r) for _ in range(3 + r.below(20)))
    if kind == 5:
        return script_words(r, CJK, 5 + r.below(60), r.pick(["", " ", "，", "。", "、"]))
    if kind == 6:
        return script_words(r, CYRILLIC, 5 + r.below(50))
    if kind == 7:
        return script_words(r, ARABIC, 5 + r.below(40)) + " " + script_words(r, HEBREW, 3 + r.below(20))
    if kind == 8:
        return script_words(r, DEVANAGARI + OTHER, 5 + r.below(40))
    if kind == 9:
        return "".join(r.pick(EMOJI) + (r.pick(SPACES) if r.chance(1, 3) else "")
                       for _ in range(3 + r.below(30)))
    if kind == 10:
        return "".join(r.pick(ENGLISH) + r.pick(COMBINING) for _ in range(3 + r.below(30)))
    if kind == 11:
        return "".join(r.pick(SPACES) for _ in range(1 + r.below(40))) + prose(r, 5 + r.below(10))
    if kind == 12:
        parts = []
        for _ in range(2 + r.below(10)):
            parts.append(r.pick(SPECIAL))
            parts.append(prose(r, r.below(8)) if r.chance(1, 2) else r.pick(SPACES))
        return "".join(parts)
    # mixed scripts within words
    pools = [ENGLISH, CJK, CYRILLIC, ARABIC, HEBREW, DEVANAGARI, OTHER, EMOJI, COMBINING]
    return "".join(r.pick(r.pick(pools)) + (r.pick(SPACES) if r.chance(1, 2) else "")
                   for _ in range(5 + r.below(40)))


def corpus(records=4000, seed=20261201):
    r = Rng(seed)
    return [record(r) for _ in range(records)]


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    n = 4000
    if "--records" in sys.argv:
        n = int(sys.argv[sys.argv.index("--records") + 1])
    data = "\x1e".join(corpus(n)).encode("utf-8")
    with open(sys.argv[1], "wb") as f:
        f.write(data)


if __name__ == "__main__":
    main()
