"""Momentum, sparklines and burst scoring on hand-built histories (pure functions, no I/O)."""

from __future__ import annotations

import math
from datetime import date

import pytest

from digest.models import DayStats, DayStatus, PhraseCounts, TopicInfo
from digest.trend import stats

TOPICS = [TopicInfo("llm", "LLM"), TopicInfo("mm", "멀티모달")]
RULES = {"llm": "r-llm", "mm": "r-mm"}
TODAY = date(2026, 2, 6)  # a Friday


def day(d: date, pool: int, llm: int, mm: int, *, status=DayStatus.ANNOUNCED, rules=RULES) -> DayStats:
    if status != DayStatus.ANNOUNCED:
        return DayStats(day=d, status=status)
    return DayStats(day=d, status=status, pool=pool, topics={"llm": llm, "mm": mm}, topic_rules=dict(rules))


def history(n: int, pool: int = 400, llm: int = 120, mm: int = 40, end: date = TODAY) -> list[DayStats]:
    """``n`` announced days before ``end`` with the same shares every day."""
    days = stats.announcement_days(end, n + 1)[:-1]
    return [day(d, pool, llm, mm) for d in days]


def line(lines, key):
    return next(t for t in lines if t.key == key)


def spark_days(end: date = TODAY) -> list[date]:
    return stats.announcement_days(end, stats.SPARK_DAYS)


# -- sparkline ------------------------------------------------------------------------------------


def test_sparkline_scales_from_zero_to_the_largest_and_leaves_gaps_blank():
    assert stats.sparkline([0, 1, 2, 4, 8]) == "▁▂▃▅█"
    assert stats.sparkline([8, None, 8]) == "█ █"
    assert stats.sparkline([0, 0]) == "▁▁"
    assert stats.sparkline([None, None]) == "  "
    # From zero, not from the smallest: a 40 % ± 1 share is a flat line, not a zig-zag.
    assert set(stats.sparkline([0.40, 0.41, 0.39, 0.40])) <= {"▇", "█"}


# -- momentum -------------------------------------------------------------------------------------


def test_the_first_day_is_a_cold_start_without_averages_or_arrows():
    lines, days = stats.topic_trends(day(TODAY, 400, 120, 40), [], TOPICS, spark_days())
    assert days == 0
    t = line(lines, "llm")
    assert (t.count, t.arrow, t.baseline_share, t.change) == (120, "", None, None)
    assert t.spark.endswith("█") and t.spark.strip() == "█"


def test_four_days_are_still_a_cold_start_five_are_not():
    lines, days = stats.topic_trends(day(TODAY, 400, 120, 40), history(4), TOPICS, spark_days())
    assert days == 4 and line(lines, "llm").arrow == ""
    lines, days = stats.topic_trends(day(TODAY, 400, 120, 40), history(5), TOPICS, spark_days())
    assert days == 5 and line(lines, "llm").arrow == stats.FLAT


def test_a_steady_topic_is_flat_with_a_small_change():
    lines, days = stats.topic_trends(day(TODAY, 410, 125, 41), history(20), TOPICS, spark_days())
    t = line(lines, "llm")
    assert days == 20
    assert t.arrow == stats.FLAT
    assert t.baseline_share == pytest.approx(0.30)
    assert abs(t.change) < 0.05
    assert set(t.spark) <= set("▇█")


def test_a_spike_is_up_and_a_collapse_is_down():
    lines, _ = stats.topic_trends(day(TODAY, 400, 120, 70), history(20), TOPICS, spark_days())
    mm = line(lines, "mm")
    assert mm.arrow == stats.UP
    e = 400 * (20 * 40 + 1) / (20 * 400 + 1)
    assert mm.expected == pytest.approx(e)
    assert mm.change == pytest.approx((70 - e) / e)
    assert mm.z == pytest.approx((70 - e) / math.sqrt(e + 1))
    assert mm.spark.endswith("█")
    lines, _ = stats.topic_trends(day(TODAY, 400, 60, 40), history(20), TOPICS, spark_days())
    assert line(lines, "llm").arrow == stats.DOWN


def test_a_big_change_on_few_papers_is_no_arrow_without_z():
    # 3 papers where 1.5 are expected: +100 %, but z < 2.
    lines, _ = stats.topic_trends(day(TODAY, 400, 120, 3), history(20, mm=1), TOPICS, spark_days())
    mm = line(lines, "mm")
    assert mm.change > 0.3 and mm.z < 2 and mm.arrow == stats.FLAT
    assert not stats.shows_change(mm)  # too few papers for the percentage to mean anything


def test_a_monday_batch_is_compared_by_share_not_by_count():
    # Monday's listing holds three days of submissions: three times the papers, the same shares.
    monday = date(2026, 2, 9)
    lines, _ = stats.topic_trends(
        day(monday, 1200, 360, 120), history(20, end=monday), TOPICS, spark_days(monday)
    )
    assert {t.arrow for t in lines} == {stats.FLAT}
    assert all(abs(t.change) < 0.01 for t in lines)


def test_gap_days_are_skipped_not_zeros():
    past = history(20)
    # The three most recent days before today: one failed fetch, one partial listing, one never run.
    missing = past[-1].day
    partial = past[-2].day
    gap = past[-3].day
    past = [h for h in past if h.day not in (missing, partial, gap)]
    past += [day(missing, 0, 0, 0, status=DayStatus.MISSING), day(partial, 0, 0, 0, status=DayStatus.PARTIAL)]
    lines, days = stats.topic_trends(day(TODAY, 400, 120, 40), past, TOPICS, spark_days())
    assert days == 17  # neither a zero nor a day
    t = line(lines, "llm")
    assert t.arrow == stats.FLAT and t.baseline_share == pytest.approx(0.30)
    assert t.spark[-4:-1] == "   " and t.spark[-1] == "█"  # blanks where there is no data


def test_the_baseline_takes_the_last_twenty_days_within_the_window():
    # The oldest ten of thirty days had another share: they are out of the baseline.
    past = [day(h.day, 400, 200 if i < 10 else 120, 40) for i, h in enumerate(history(30))]
    chosen = stats.baseline(past, TODAY)
    assert len(chosen) == 20 and chosen[0].day > chosen[-1].day
    assert all(h.topics["llm"] == 120 for h in chosen)
    # Days older than the window are not "recent", however few days there are.
    old = [day(d, 400, 120, 40) for d in stats.announcement_days(date(2025, 11, 3), 10)]
    assert stats.baseline(old, TODAY) == []


def test_a_topic_whose_keywords_changed_starts_its_baseline_again():
    changed = {"llm": "r-llm", "mm": "r-mm-v2"}
    lines, days = stats.topic_trends(
        day(TODAY, 400, 120, 40, rules=changed), history(20), TOPICS, spark_days()
    )
    assert days == 20
    assert line(lines, "llm").arrow == stats.FLAT
    mm = line(lines, "mm")
    assert mm.arrow == "" and mm.baseline_days == 0  # counted another way: not comparable
    assert mm.spark.strip() == "█"


def test_announcement_days_skip_weekends_and_holidays():
    # arXiv makes no announcement on the evening of Martin Luther King Jr. Day (2026-01-19): no listing
    # is dated 01-20. Weekends have none either.
    days = stats.announcement_days(date(2026, 1, 23), 5)
    assert days == [
        date(2026, 1, 16),
        date(2026, 1, 19),
        date(2026, 1, 21),
        date(2026, 1, 22),
        date(2026, 1, 23),
    ]


# -- emerging terms ------------------------------------------------------------------------------------


def counts(papers: int, docs: dict[str, int], authors: dict[str, int] | None = None) -> PhraseCounts:
    return PhraseCounts(papers=papers, docs=docs, first_authors=authors or {p: n for p, n in docs.items()})


def test_a_new_phrase_in_enough_papers_emerges():
    today = counts(400, {"test-time scaling": 6, "language model": 120})
    past = {"test-time scaling": 0, "language model": 2400}
    terms = stats.emerging_terms(today, past, 8000, 20)
    assert [t.phrase for t in terms] == ["test-time scaling"]
    t = terms[0]
    assert t.count == 6 and t.usual == 0 and math.isinf(t.ratio) and t.z >= stats.MIN_Z


def test_two_against_zero_is_noise_three_against_one_can_be_a_burst():
    assert stats.log_odds_z(2, 400, 0, 8000, 400) < stats.MIN_Z
    assert stats.log_odds_z(3, 400, 0, 8000, 400) < stats.MIN_Z
    assert stats.log_odds_z(3, 400, 1, 8000, 400) >= stats.MIN_Z


def test_a_usual_phrase_does_not_emerge_and_a_grown_one_does():
    today = counts(400, {"flow matching": 9, "latent space": 7})
    past = {"flow matching": 20, "latent space": 140}  # 1 and 7 papers a day before
    terms = stats.emerging_terms(today, past, 8000, 20)
    assert [t.phrase for t in terms] == ["flow matching"]
    assert terms[0].usual == 1.0 and terms[0].ratio == pytest.approx(9.0)


def test_gates_one_first_author_too_few_papers_a_flood_term():
    today = counts(
        400,
        {"prompt injection": 6, "sparse autoencoder": 2, "large language model": 200},
        {"prompt injection": 1, "sparse autoencoder": 2, "large language model": 190},
    )
    past = {"prompt injection": 0, "sparse autoencoder": 0, "large language model": 800}  # 10 % of papers
    assert stats.emerging_terms(today, past, 8000, 20) == []


def test_a_shorter_phrase_covered_by_a_longer_one_is_dropped():
    today = counts(400, {"diffusion language model": 6, "diffusion language": 6, "masked diffusion": 7})
    past = dict.fromkeys(today.docs, 0)
    phrases = [t.phrase for t in stats.emerging_terms(today, past, 8000, 20)]
    assert "diffusion language model" in phrases and "diffusion language" not in phrases
    # A longer phrase that is a rare special case of a shorter one goes instead.
    today = counts(400, {"test-time scaling": 12, "test-time scaling law": 5})
    phrases = [t.phrase for t in stats.emerging_terms(today, dict.fromkeys(today.docs, 0), 8000, 20)]
    assert phrases == ["test-time scaling"]


def test_a_fragment_of_a_term_is_counted_but_never_shown():
    """Counted phrases that read as broken pieces ("two module" of "two modules that ...", an adjective whose
    noun was cut off) stay in the counts and out of the emerging terms and the paragraph's opening."""
    fragments = {"two module": 6, "including diffusion": 5, "continuous generative": 7}
    today = counts(400, fragments | {"flow matching": 6})
    past = dict.fromkeys(today.docs, 0)
    assert stats.term_candidates(today) == ["flow matching"]
    assert [t.phrase for t in stats.emerging_terms(today, past, 8000, 20)] == ["flow matching"]


def test_at_most_five_terms_best_first():
    docs = {f"term {chr(97 + i)}": 5 + i for i in range(8)}
    terms = stats.emerging_terms(counts(400, docs), dict.fromkeys(docs, 0), 8000, 20)
    assert len(terms) == stats.MAX_TERMS
    assert [t.count for t in terms] == sorted((t.count for t in terms), reverse=True)


# -- the numbers as stated ------------------------------------------------------------------------


def test_stated_numbers():
    assert stats.share_text(0.4006) == "40%"
    assert stats.share_text(0.003) == "<1%"
    assert stats.share_text(0.0) == "0%"
    assert stats.change_text(0.384) == "+38%"
    assert stats.change_text(-0.121) == "-12%"
    assert stats.usual_text(0.4) == "1편 미만"
    assert stats.usual_text(1.4) == "1편"


def test_the_bundled_sample_history_counts_the_way_today_counts():
    """digest/sample/history.json.gz is compared with the sample day: if counting rules, phrase rules or the
    default topics change, it must be rebuilt (python tests/fixtures/sources/build.py --sample digest/sample),
    or the demo would quietly compare with nothing."""
    from digest.config import Config
    from digest.demo import sample_history
    from digest.trend.phrases import PHRASE_RULES

    rules = {k: stats.topic_fingerprint(t) for k, t in Config().topics.items()}
    history = sample_history()
    assert len(history) == 30 and history[0].day == date(2026, 2, 9) and history[-1].day == date(2026, 3, 20)
    for h in history:
        assert h.topic_rules == rules, "rebuild digest/sample (build.py --sample)"
        assert h.phrase_rules == PHRASE_RULES, "rebuild digest/sample (build.py --sample)"
        assert h.pool and sum(h.topics.values()) > 0 and h.origin == "sample"


def test_only_phrases_some_baseline_count_could_let_through_are_looked_up():
    # Today 2,000 papers (a Monday batch, say) against 20 days of 335: a phrase in 3 to 5 of today's papers
    # cannot be a burst whatever the baseline held, so it is not looked up. For every baseline count, the
    # terms shown from the pruned lookup are the terms shown from the whole one.
    phrases = {f"phrase {y}": y for y in range(3, 61)}
    today = counts(2000, phrases)
    kept = stats.could_emerge(sorted(phrases), today, 6700)
    assert set(phrases) - set(kept) == {"phrase 3", "phrase 4", "phrase 5"}
    for y_past in range(200):
        past = dict.fromkeys(phrases, y_past)
        full = stats.emerging_terms(today, past, 6700, 20)
        assert stats.emerging_terms(today, {p: past[p] for p in kept}, 6700, 20) == full
    # Days of a size with today's: nothing can be ruled out; no baseline: nothing to look up.
    assert len(stats.could_emerge(sorted(phrases), counts(400, phrases), 8000)) == len(phrases)
    assert stats.could_emerge(sorted(phrases), today, 0) == []
