"""Who each person of a run really is, from a synthetic episode's truth JSON: for naming people in tests
and benchmarks as a user would, and for scoring what the library named.

A person's identity is the truth identity of most of their matched faces; `purity` is that share. A
person "seen clearly" has at least CLEAR_FACES matched faces with purity >= CLEAR_PURITY (a mix of two
people is not a person anyone should name).
"""

from __future__ import annotations

from collections import Counter, defaultdict

CLEAR_FACES = 3
CLEAR_PURITY = 0.8


def person_identities(outdir, truth_json, iou: float = 0.5) -> dict[int, dict]:
    """{person id: {"identity", "purity", "faces", "clear"}} for every person with matched faces."""
    from ..evaluate import metrics
    from ..evaluate.harness import _truth_by_kind, predictions, read_run
    from ..evaluate.synth import load_truth

    table, frames = read_run(outdir)
    truth = _truth_by_kind(load_truth(truth_json))["face"]
    matched = metrics.match_frames(truth, predictions(table, "face"), frames, iou)["pairs"]
    votes: dict[int, Counter] = defaultdict(Counter)
    for (identity, _tags), person in matched:
        if person != metrics.NOISE and person >= 0:
            votes[int(person)][identity] += 1
    out = {}
    for person, counter in votes.items():
        identity, n = counter.most_common(1)[0]
        total = sum(counter.values())
        out[person] = {"identity": identity, "purity": n / total, "faces": total,
                       "clear": total >= CLEAR_FACES and n / total >= CLEAR_PURITY}
    return out


def label_from_truth(outdir, truth_json, identities: set[str] | None = None, every: bool = False) -> dict[int, str]:
    """Name the clearly seen people of a run after their truth identity (only `identities`, when given),
    through the same edit a user makes (results.edit_ops.label). One person per identity, the one with
    most faces; with `every`, each clearly seen person (a user naming the cast names both parts of a person
    the grouping split). Returns {person id: name} as labelled."""
    from ..results.edit_ops import label

    chosen: dict[str, list[tuple[int, int]]] = {}
    for person, info in person_identities(outdir, truth_json).items():
        if info["clear"] and (identities is None or info["identity"] in identities):
            chosen.setdefault(info["identity"], []).append((info["faces"], person))
    todo = sorted(person for found in chosen.values()
                  for _, person in (found if every else [max(found, key=lambda fp: (fp[0], -fp[1]))]))
    who = {person: identity for identity, found in chosen.items() for _, person in found}
    for person in todo:
        label(outdir, person, who[person])
    return {person: who[person] for person in todo}
