"""The reason's part about the reader's notes: ``내 글 2024-08-13 「Diffusion chapter 1」과 가까움``."""

from __future__ import annotations

from ..models import NoteRef

# Letters read by name in an acronym ("GNN" 지엔엔, "VAE" 브이에이이): those whose name ends in a consonant.
_LETTER_BATCHIM = frozenset("LMNR")  # 엘 엠 엔 알
# A word read as English ("model" 모델, "chapter" 챕터): the endings that sound with a final consonant.
_WORD_BATCHIM = ("m", "n", "ng", "l", "k", "ck", "p", "t", "b", "d", "g")
_DIGIT_BATCHIM = frozenset("013678")  # 영 일 삼 육 칠 팔


def _has_batchim(text: str) -> bool:
    """Whether ``text`` read aloud in Korean ends in a consonant (which picks 과 over 와)."""
    tail = text.rstrip(" )]」』\"'.!?…")
    if not tail:
        return False
    ch = tail[-1]
    if "가" <= ch <= "힣":
        return (ord(ch) - 0xAC00) % 28 != 0
    if ch.isdigit():
        return ch in _DIGIT_BATCHIM
    if ch.isascii() and ch.isalpha():
        word = tail.split()[-1] if tail.split() else tail
        letters = "".join(c for c in word if c.isascii() and c.isalpha())
        if letters.isupper() and len(letters) <= 5:  # an acronym: read letter by letter
            return ch.upper() in _LETTER_BATCHIM
        return letters.lower().endswith(_WORD_BATCHIM)
    return False


def with_wa(text: str) -> str:
    """``text`` with the particle 과 or 와 that fits how it ends."""
    return text + ("과" if _has_batchim(text) else "와")


def note_reason(note: NoteRef) -> str:
    title = " ".join(note.title.split())
    day = note.day.isoformat()
    if not title or title == day:  # a note with nothing but its date: the date says it all
        return f"내 글 {with_wa(day)} 가까움"
    return f"내 글 {day} {with_wa(f'「{title}」')} 가까움"
