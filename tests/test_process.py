"""The generative social choice process core, with table-driven test backends whose answers we know."""

from __future__ import annotations

import numpy as np
import pytest

from pnyx.data import InputError, Judgment, Participant, Profile, Statement
from pnyx.evaluate.slate import evaluate_slate
from pnyx.process import PoolPolicy, ProcessError, ProcessOptions, generative_social_choice
from pnyx.rules.gsc import round_sizes
from pnyx.queries.base import Candidate, DiscriminativeBackend, GenerativeBackend, Prediction


class TableBackend(DiscriminativeBackend):
    """Predicts utilities from a table: statement text → utility per participant."""

    name = "table"

    def __init__(self, table: dict[str, np.ndarray]):
        self.table = table
        self.asked: list[list[int]] = []

    def predict(self, profile, participants=None, statements=None):
        rows = np.arange(profile.n) if participants is None else np.asarray(participants)
        cols = np.arange(profile.m) if statements is None else np.asarray(statements)
        self.asked.append(cols.tolist())
        U = np.array([[self.table[profile.statements[j].text][i] for j in cols] for i in rows], dtype=float)
        return Prediction(U, rows, cols, backend="table")


class ListGenerator(GenerativeBackend):
    """Proposes round t's list of texts (the last list once the rounds run out) and records each call."""

    name = "list"

    def __init__(self, rounds: list[list[str]], statement_ids: dict[str, str] | None = None):
        self.rounds, self.ids, self.calls = rounds, statement_ids or {}, []

    def generate(self, profile, participants, *, size_target=None, word_budget=None, seed=0):
        self.calls.append({"participants": list(participants), "size_target": size_target, "seed": seed,
                           "word_budget": word_budget})
        texts = self.rounds[min(len(self.calls), len(self.rounds)) - 1]
        return [Candidate(text=t, generator="list", statement_id=self.ids.get(t)) for t in texts]


def random_table(rng: np.random.Generator, n: int, texts: list[str]) -> dict[str, np.ndarray]:
    return {t: rng.integers(0, 5, size=n).astype(float) for t in texts}


def empty_profile(n: int) -> Profile:
    return Profile.from_judgments([Participant(f"p{i}") for i in range(n)], [], [], "rating")


@pytest.mark.parametrize("n,k,seed", [(10, 3, 0), (12, 4, 1), (7, 7, 2), (9, 2, 3)])
def test_fixed_pool_process_is_the_gsc_rule(n, k, seed):
    rng = np.random.default_rng(seed)
    texts = [f"statement {c}" for c in "ABCDEFG"]
    table = random_table(rng, n, texts)
    result = generative_social_choice(empty_profile(n), k, discriminative=TableBackend(table),
                                      generators=[ListGenerator([texts])],
                                      options=ProcessOptions(seed=seed, seats=False))
    from pnyx.rules import compute

    U = np.column_stack([table[t] for t in texts])
    assert [result.profile.statements[j].text for j in result.slate] == [texts[c] for c in compute("gsc", U, k).slate]
    sizes = [len(s) for s in result.supporters]
    assert sizes == round_sizes(n, k)
    assert sorted(i for s in result.supporters for i in s) == list(range(n))
    for t, rnd in enumerate(result.rounds):
        # every participant matched in a round values the chosen statement at least at the round's score
        assert np.all(result.utilities[rnd.matched, rnd.chosen[0]] >= rnd.score)
        assert rnd.score == max(rnd.scores.values())


def test_generators_see_only_the_unmatched_with_round_size_and_seed():
    n, k = 8, 3
    texts = ["a b", "c d", "e f", "g h"]
    gen = ListGenerator([texts])
    result = generative_social_choice(empty_profile(n), k, discriminative=TableBackend(random_table(
        np.random.default_rng(5), n, texts)), generators=[gen, ListGenerator([texts[:1]])],
        options=ProcessOptions(seed=10))
    assert [c["seed"] for c in gen.calls] == [10, 11, 12]
    assert [c["size_target"] for c in gen.calls] == round_sizes(n, k) == [3, 3, 2]
    matched: set[int] = set()
    for call, rnd in zip(gen.calls, result.rounds):
        assert set(call["participants"]) == set(range(n)) - matched
        matched |= set(rnd.matched)


def test_observed_judgments_win_and_candidates_are_deduplicated():
    n = 6
    data = [Statement("s1", "Protect the forests."), Statement("s2", "Build more roads.")]
    judgments = [Judgment(f"p{i}", "s1", 4.0) for i in range(3)] + [Judgment("p0", "s2", 0.0)]
    profile = Profile.from_judgments([Participant(f"p{i}") for i in range(n)], data, judgments, "rating")
    table = {"Protect the forests.": np.full(n, 1.0), "Build more roads.": np.full(n, 2.0),
             "Plant trees.": np.array([0, 0, 0, 4, 4, 3.0])}
    # the same statements again: by id, by text with other spacing and case, and a repeated new text
    gen = ListGenerator([["Protect the forests.", "build  MORE roads.", "Plant trees.", "Plant trees."]],
                        statement_ids={"Protect the forests.": "s1"})
    result = generative_social_choice(profile, 2, discriminative=TableBackend(table), generators=[gen])
    assert result.profile.m == 3
    assert [s.id for s in result.statements] == ["s1", "list-r1-1"]
    assert result.statements[1].source == "list"
    U = result.utilities
    assert U[:3, 0].tolist() == [4.0, 4.0, 4.0] and U[3:, 0].tolist() == [1.0, 1.0, 1.0]
    assert U[0, 1] == 0.0 and U[1:, 1].tolist() == [2.0] * 5
    assert result.profile.observed[:3, 0].all() and not result.profile.observed[3:, 0].any()
    assert result.profile.provenance_of(4, 0) == "table"
    assert result.supporters == [[0, 1, 2], [3, 4, 5]]


def test_fresh_candidates_only_choose_among_the_rounds_new_ones():
    n, k = 6, 2
    table = {"old": np.full(n, 4.0), "other": np.full(n, 3.0), "new": np.full(n, 1.0)}
    # round 1 proposes "old" and "other" and chooses "old"; round 2 proposes only the weaker "new"
    rounds = [["old", "other"], ["new"]]
    kept = generative_social_choice(empty_profile(n), k, discriminative=TableBackend(table),
                                    generators=[ListGenerator(rounds)],
                                    options=ProcessOptions(keep_candidates=True, seats=False))
    fresh = generative_social_choice(empty_profile(n), k, discriminative=TableBackend(table),
                                     generators=[ListGenerator(rounds)],
                                     options=ProcessOptions(keep_candidates=False, seats=False))
    assert [s.text for s in kept.statements] == ["old", "other"]
    assert [s.text for s in fresh.statements] == ["old", "new"]
    assert kept.rounds[1].pool != fresh.rounds[1].pool
    # with seats (the default) everyone's favourite takes the second seat too: nobody would rather have
    # another statement than the one they are matched to
    seated = generative_social_choice(empty_profile(n), k, discriminative=TableBackend(table),
                                      generators=[ListGenerator(rounds)])
    assert [s.text for s in seated.statements] == ["old", "old"] and seated.rounds[1].repeat
    assert seated.distinct == [seated.slate[0]]


def test_unknown_utilities_fail_clearly():
    n = 4
    table = {"x": np.array([1.0, np.nan, 2.0, 3.0])}
    with pytest.raises(ProcessError, match="left 1 utilities unknown"):
        generative_social_choice(empty_profile(n), 2, discriminative=TableBackend(table),
                                 generators=[ListGenerator([["x"]])])


def test_classical_rule_runs_once_over_the_fixed_pool():
    from pnyx.rules import compute

    n, k = 9, 3
    texts = [f"t{c}" for c in range(6)]
    table = random_table(np.random.default_rng(11), n, texts)
    gen = ListGenerator([texts])
    result = generative_social_choice(empty_profile(n), k, discriminative=TableBackend(table), generators=[gen],
                                      options=ProcessOptions(rule="seq-pav"))
    U = np.column_stack([table[t] for t in texts])
    assert len(gen.calls) == 1 and gen.calls[0]["participants"] == list(range(n))
    assert [s.text for s in result.statements] == [texts[c] for c in compute("seq-pav", U, k).slate]
    assert sorted(len(s) for s in result.supporters) == [3, 3, 3]


def test_budgeted_process_is_the_budgeted_rule_on_its_pool_and_respects_the_budget():
    from pnyx.rules import compute

    n, budget = 12, 12
    # costs 1..4 words; the budget pays for ⌈c·n/B⌉ = c supporters per word
    texts = ["one", "two words", "three word statement", "a four word statement", "five", "six six"]
    table = random_table(np.random.default_rng(4), n, texts)
    gen = ListGenerator([texts])
    result = generative_social_choice(empty_profile(n), 4, discriminative=TableBackend(table), generators=[gen],
                                      options=ProcessOptions(budget=budget))
    assert result.rule == "gsc-budgeted"
    U = np.column_stack([table[t] for t in texts])
    expected = compute("gsc-budgeted", U, 4, budget=budget, costs=[len(t.split()) for t in texts])
    assert [s.text for s in result.statements] == [texts[c] for c in expected.slate]
    assert sum(s.cost for s in result.statements) <= budget
    assert result.matching.tolist() == np.asarray(expected.info["assignment"]).tolist()
    # round 1 asks for statements of ⌈n/k⌉·B/n = 3 words serving 3 participants
    assert gen.calls[0]["word_budget"] == 3 and gen.calls[0]["size_target"] == 3
    unmatched = set(np.flatnonzero(result.matching < 0).tolist())
    if len(gen.calls) > 1:
        assert set(gen.calls[-1]["participants"]) >= unmatched


def test_evaluate_slate_counts_the_assigned_ratings_and_who_is_left_out():
    parts = [Participant(f"v{i}") for i in range(5)]
    stmts = [Statement("A", "a"), Statement("B", "b"), Statement("C", "c")]
    ratings = {"v0": (4, 0, 1), "v1": (3, 1, 1), "v2": (0, 4, 2), "v3": (1, 2, 4)}
    judgments = [Judgment(p, s, r) for p, rs in ratings.items() for s, r in zip("ABC", rs)]
    judgments.append(Judgment("v4", "A", 4))  # v4 did not rate B or C
    profile = Profile.from_judgments(parts, stmts, judgments, "rating")
    two = evaluate_slate(profile, ["A", "B"])
    assert two.n == 4 and two.left_out == 1
    assert two.total == 4 + 3 + 4 + 2  # v0, v1 → A; v2, v3 → B
    assert two.assigned_ratings == {"0": 0, "1": 0, "2": 1, "3": 1, "4": 2}
    with pytest.raises(InputError, match="unknown statement id 'Z'"):
        evaluate_slate(profile, ["A", "Z"])


def test_seats_remove_the_bjr_violation_of_a_statement_wanted_by_more_than_its_places():
    from pnyx.assignment import balanced
    from pnyx.audit import audit

    # 6 people, k = 2: everyone loves A, nobody else is liked; chosen once, A takes 3 and the other 3 get
    # B (utility 0) while all six would rather have A: a BJR violation on the slate statement A
    table = {"A": np.full(6, 4.0), "B": np.zeros(6), "C": np.zeros(6)}
    gen = lambda: [ListGenerator([["A", "B", "C"]])]  # noqa: E731
    once = generative_social_choice(empty_profile(6), 2, discriminative=TableBackend(table), generators=gen(),
                                    options=ProcessOptions(seats=False))
    checked = audit(once, balanced(once.utilities, once.slate))
    witness = checked.bjr.witness
    assert not checked.bjr.satisfied and checked.bjr.meaningful
    assert witness.statement == once.profile.statements[once.slate[0]].id and witness.on_slate
    assert len(witness.coalition) == 3 and set(witness.coalition) <= set(once.profile.participant_ids)
    assert f"statement {witness.statement} at least" in checked.bjr.sentence(3)  # ids, not column indices
    assert "wanted by more people than its seats" in checked.bjr.sentence(3)
    # the default gives A both seats, and the process's own audit holds
    seated = generative_social_choice(empty_profile(6), 2, discriminative=TableBackend(table), generators=gen())
    checked = audit(seated, balanced(seated.utilities, seated.slate))
    assert seated.slate == [seated.slate[0]] * 2 and checked.bjr.satisfied and checked.seats == {"list-r1-1": 2}
    assert checked.to_json()["bjr"]["satisfied"] is True


def test_constant_utilities_get_no_green_verdict():
    from pnyx.assignment import balanced
    from pnyx.audit import audit

    table = {t: np.full(5, 2.0) for t in "ABC"}
    result = generative_social_choice(empty_profile(5), 2, discriminative=TableBackend(table),
                                      generators=[ListGenerator([list("ABC")])])
    checked = audit(result, balanced(result.utilities, result.slate))
    assert not checked.bjr.meaningful and not checked.ejr.meaningful
    assert "not assessed" in checked.bjr.sentence(2.5)
    assert any("same number" in c for c in checked.caveats)


def vote_profile(votes: dict[str, list[int]], meta: tuple[str, ...] = ()) -> Profile:
    """Participants p0.. voting on statements named by the keys (1 agree, −1 disagree, 0 pass, None unseen)."""
    n = len(next(iter(votes.values())))
    participants = [Participant(f"p{i}") for i in range(n)]
    statements = [Statement(sid, f"text of {sid}") for sid in votes]
    judgments = [Judgment(f"p{i}", sid, v) for sid, col in votes.items() for i, v in enumerate(col) if v is not None]
    return Profile.from_judgments(participants, statements, judgments, "vote", info={"meta_comments": list(meta)})


def test_meta_excluded_and_barely_judged_statements_do_not_compete(midpoint_backend):
    # "meta" is agreed by all, "one" by a single voter (predicted agree for the rest would not help it),
    # "a" and "b" by two camps
    votes = {"meta": [1] * 8, "one": [1] + [None] * 7, "a": [1, 1, 1, 1, -1, -1, 0, -1],
             "b": [-1, -1, 0, -1, 1, 1, 1, 1]}
    profile = vote_profile(votes, meta=("meta",))
    run = lambda policy=PoolPolicy(): generative_social_choice(  # noqa: E731
        profile, 2, discriminative=midpoint_backend, generators=[ListGenerator([[]])],
        options=ProcessOptions(policy=policy))
    result = run()
    assert sorted(result.profile.statements[j].id for j in result.slate) == ["a", "b"]
    assert result.pool_report.excluded == {"meta statement": ["meta"]} and not result.eligible[0]
    # allowed to compete, the platitude ties with "a" at 4 for four participants and loses on distinctive
    # support (0 against 3.5: the camp agrees with "a", the others mostly do not)
    with_meta = run(PoolPolicy(include_meta=True))
    assert with_meta.eligible[0] and with_meta.rounds[0].distinctive[0] == 0.0
    assert with_meta.profile.statements[with_meta.slate[0]].id == "a"
    strict = run(PoolPolicy(min_support=2))
    assert strict.pool_report.excluded["fewer than 2 observed approvals"] == ["one"]
    excluded = run(PoolPolicy(exclude=frozenset({"a"})))
    assert "a" not in [excluded.profile.statements[j].id for j in excluded.slate]
    assert excluded.pool_report.excluded["excluded by id"] == ["a"]
    with pytest.raises(ProcessError, match=r"left out: 1 meta statement; 3 fewer than 9 .*--min-support"):
        run(PoolPolicy(min_support=9))


def test_tie_records_name_profile_columns():
    # round 1 takes "A" (everyone rates it 4); round 2's pool is [B, C, D] (columns 1–3 with seats off), and
    # B and C tie: the record must name columns 1 and 2, not positions 0 and 1 of the round's pool
    n = 4
    table = {"A": np.full(n, 4.0), "B": np.array([0, 0, 3, 3.0]), "C": np.array([0, 0, 3, 3.0]), "D": np.zeros(n)}
    result = generative_social_choice(empty_profile(n), 2, discriminative=TableBackend(table),
                                      generators=[ListGenerator([list("ABCD")])],
                                      options=ProcessOptions(seats=False))
    texts = [s.text for s in result.profile.statements]
    (tie,) = [t for t in result.rounds[1].ties if t.kind == "candidates"]
    assert result.rounds[1].pool == [1, 2, 3]
    assert [texts[j] for j in tie.tied] == ["B", "C"] and texts[int(tie.chosen)] == texts[result.slate[1]]
    assert set(tie.criteria["distinctive"]) == set(tie.tied) and tie.round == 2


def test_the_seed_reaches_every_backend():
    from pnyx.queries import get_discriminative, get_generative

    offline = get_discriminative("offline", {"seed": 7, "cache": None})
    members = getattr(offline.judged, "members", [offline.judged])
    assert all(m.seed == 7 for m in members) and getattr(offline.judged, "seed", 7) == 7
    assert get_discriminative("cf", {"seed": 9}).seed == 9
    assert get_generative("cluster", {"seed": 5, "cache": None}).seed == 5


def test_a_0_1_matrix_is_read_as_approvals_or_refused_by_name():
    from pnyx.rules import compute

    A = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 0]])
    with pytest.raises(InputError, match="approval threshold 3"):
        compute("pav", A, 2)
    assert sorted(compute("pav", A.astype(bool), 2).slate) == [0, 1]
    assert sorted(compute("pav", A, 2, threshold=1).slate) == [0, 1]


def test_demographic_questions_of_an_unmarked_export_do_not_compete():
    from pathlib import Path

    from pnyx.io import load
    from pnyx.process import eligible_columns

    profile = load(Path(__file__).resolve().parents[1] / "examples" / "scoop-hivemind-biodiversity")
    assert profile.info["meta_marked"] is False
    ok, report = eligible_columns(profile, 5, PoolPolicy())
    inferred = report.excluded["meta statement (inferred: the moderator's demographic question)"]
    assert inferred == ["0", "1", "2", "5", "8", "9", "10"]  # ages and places of residence
    assert not ok[[profile.statement_index(s) for s in inferred]].any()
    ok, report = eligible_columns(profile, 5, PoolPolicy(include_meta=True))
    assert not any("meta" in why for why in report.excluded)


def test_seen_first_opens_with_the_statement_most_participants_voted_on(midpoint_backend):
    # "narrow" (agreed by rows 0–3, shown to no one else: predicted pass) and "wide" (agreed by everyone) tie at 4
    # in round 1; least-served (the default) takes the more distinctive "narrow", seen-first the statement all
    # 8 voted on, and records the counts by profile column
    profile = vote_profile({"narrow": [1] * 4 + [None] * 4, "wide": [1] * 8})
    run = lambda tiebreak="least-served": generative_social_choice(  # noqa: E731
        profile, 2, discriminative=midpoint_backend, generators=[ListGenerator([[]])],
        options=ProcessOptions(tiebreak=tiebreak))
    assert run().profile.statements[run().slate[0]].id == "narrow"
    result = run("seen-first")
    assert result.profile.statements[result.slate[0]].id == "wide"
    (tie,) = [t for t in result.rounds[0].ties if t.kind == "candidates"]
    assert tie.criteria["seen"] == {0: 4.0, 1: 8.0}


def test_process_options_refuse_a_bad_choice_when_made_naming_its_value_and_field():
    from dataclasses import replace

    from pnyx.registry import UnknownNameError

    with pytest.raises(UnknownNameError, match="unknown rule 'borda'") as caught:
        ProcessOptions(rule="borda")
    assert caught.value.field == "rule"
    bad = [({"tiebreak": "coin"}, "tiebreak", "unknown tiebreak 'coin'"),
           ({"tolerance": -0.5}, "tolerance", "got -0.5"), ({"tolerance": float("nan")}, "tolerance", "got nan"),
           ({"budget": 0}, "budget", "got 0"), ({"rule": "gsc-budgeted"}, "budget", "'gsc-budgeted' needs")]
    for fields, field, fragment in bad:
        with pytest.raises(InputError, match=fragment) as caught:
            ProcessOptions(**fields)
        assert caught.value.field == field and "\n" not in str(caught.value)
        with pytest.raises(InputError, match=fragment):  # a changed copy is checked again
            replace(ProcessOptions(), **fields)
    assert ProcessOptions(budget=12).effective_rule == "gsc-budgeted"
    assert ProcessOptions(rule="seq-pav", budget=12).effective_rule == "seq-pav"
    assert ProcessOptions().effective_rule == "gsc"


@pytest.mark.parametrize("options,seats_allowed", [
    (ProcessOptions(tolerance=0.5, tiebreak="distinctive", seed=4), True),
    (ProcessOptions(tolerance=0.25, tiebreak="lowest", seats=False), False),
    (ProcessOptions(budget=6, tiebreak="lowest"), False),  # the budgeted process chooses each statement once
])
def test_the_result_and_its_audit_record_the_options_it_ran_with(options, seats_allowed):
    from pnyx.assignment import balanced
    from pnyx.audit import audit

    n, texts = 6, ["one", "two words", "three words here", "four"]
    table = random_table(np.random.default_rng(2), n, texts)
    gen = ListGenerator([texts])
    result = generative_social_choice(empty_profile(n), 2, discriminative=TableBackend(table), generators=[gen],
                                      options=options)
    assert result.options is options and result.rule == options.effective_rule
    assert gen.calls[0]["seed"] == options.seed
    pool = audit(result, balanced(result.utilities, result.slate)).pool
    assert (pool["tolerance"], pool["tiebreak"], pool["seats_allowed"]) == (options.tolerance, options.tiebreak,
                                                                             seats_allowed)
