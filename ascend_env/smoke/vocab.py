"""The tiny checkpoint's SentencePiece vocabulary, built deterministically (no trainer, no randomness).

A plain BPE merge procedure over :data:`TEXT` (words prefixed with ``▁`` as SentencePiece does): repeatedly merge the
most frequent adjacent pair (ties: the smaller pair string), each merge becoming a piece with a lower score than the
one before; then the single characters. Ids: ``<unk>`` ``<s>`` ``</s>`` = 0 1 2, the 256 byte pieces ``<0x00>`` ..
``<0xFF>`` = 3 .. 258 (byte fallback, as Llama-2's tokenizer), then the normal pieces.
"""

from __future__ import annotations

from collections import Counter

from .spm_model import BPE, BYTE, CONTROL, UNKNOWN, Piece, SpModel

SPACE = "\u2581"  # ▁, SentencePiece's whitespace symbol

#: the text the merges are learnt from: it covers the smoke prompt and common English subwords
TEXT = """\
I love Beijing, because it is a city that is always changing. I have been living here for ten years and I
have seen the city change so much. The old streets and the new towers stand side by side, and every season
brings something different: the spring wind, the summer rain, the golden autumn and the quiet winter snow.
People come from every part of the country to study, to work and to build their lives. In the morning the
parks are full of people who dance, sing, practise tai chi or simply walk with their friends. In the evening
the lights of the restaurants and the markets make the city feel warm and alive. I love the food, the history
and the people, because they are kind and they always have time for a good conversation.
A language model reads a prompt, turns it into tokens, and then generates one token after another. The first
token takes the longest, because the model has to process the whole prompt; every following token reuses the
cached keys and values, so it is much faster. We measure the load time, the latency of the first token, the
number of tokens per second while decoding, and the peak memory of the process. The same weights, the same
tokenizer and the same greedy decoding must give the same tokens on every framework and on every device.
Servers with accelerators need drivers, firmware, toolkits and frameworks whose versions match each other.
When they do not, the error messages are long and confusing, and the fix is often a single environment variable.
"""

SPECIALS = (Piece("<unk>", 0.0, UNKNOWN), Piece("<s>", 0.0, CONTROL), Piece("</s>", 0.0, CONTROL))


def byte_pieces() -> list[Piece]:
    return [Piece(f"<0x{b:02X}>", 0.0, BYTE) for b in range(256)]


def learn_merges(text: str, max_pieces: int) -> list[str]:
    """The merged pieces, in merge order, at most ``max_pieces`` (fewer if the words are fully merged first)."""
    words = Counter(SPACE + w for w in text.split())
    segs = {w: list(w) for w in words}
    merges: list[str] = []
    while len(merges) < max_pieces:
        pairs: Counter = Counter()
        for w, n in words.items():
            s = segs[w]
            for i in range(len(s) - 1):
                pairs[(s[i], s[i + 1])] += n
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merged = best[0] + best[1]
        merges.append(merged)
        for w in words:
            s, out, i = segs[w], [], 0
            while i < len(s):
                if i + 1 < len(s) and (s[i], s[i + 1]) == best:
                    out.append(merged)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            segs[w] = out
    return merges


def build_model(vocab_size: int = 512, text: str = TEXT) -> SpModel:
    """A SentencePiece BPE model of exactly ``vocab_size`` pieces (byte fallback for everything else)."""
    chars = sorted({c for c in text.replace("\n", " ").replace(" ", SPACE)})
    fixed = len(SPECIALS) + 256
    room = vocab_size - fixed - len(chars)
    if room < 0:
        raise ValueError(f"vocab_size {vocab_size} is too small: needs at least {fixed + len(chars)}")
    merges = [m for m in learn_merges(text, room) if m not in chars]
    if len(merges) < room:
        raise ValueError(f"vocab_size {vocab_size}: the text yields only {len(merges)} merges, {room} needed")
    normal = [Piece(m, -float(i), 1) for i, m in enumerate(merges)]
    normal += [Piece(c, -float(len(merges) + i), 1) for i, c in enumerate(chars)]
    pieces = [*SPECIALS, *byte_pieces(), *normal]
    return SpModel(pieces=pieces, model_type=BPE, vocab_size=len(pieces), byte_fallback=True,
                   unk_id=0, bos_id=1, eos_id=2, pad_id=-1, normalizer_name="identity",
                   add_dummy_prefix=True, remove_extra_whitespaces=True, escape_whitespaces=True)
