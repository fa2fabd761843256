"""The grouping flow on hand-made tables and vectors: fusion cannot be fooled by clothes, clothing holds
ambiguous faces together, faceless bodies join by clothing, user constraints, both backends."""

from __future__ import annotations

import numpy as np
import pytest

from facecluster.errors import ConfigError
from facecluster.grouping import Constraints, Fusion, GroupingOptions, build_units, group
from facecluster.grouping.linkage import constrained_average_linkage, sums_average_linkage
from facecluster.table import RunTable

FACE_CUT, CLOTH_CUT = 0.6, 0.4


def unit_vector(rng, dim, base=None, spread=0.0):
    v = rng.normal(size=dim) if base is None else base + spread * rng.normal(size=dim)
    return v / np.linalg.norm(v)


def at_distance(rng, base, cosine_distance):
    """A unit vector at exactly this cosine distance from the unit vector `base`."""
    other = rng.normal(size=len(base))
    other -= (other @ base) * base
    other /= np.linalg.norm(other)
    cos = 1.0 - cosine_distance
    return cos * base + np.sqrt(max(0.0, 1 - cos * cos)) * other


def make_run(units: list[dict]):
    """units: dicts with frames (list), kind ('face' or 'body'), face (vector or None), clothing (vector or
    None). One detection per frame; returns (table, faces space, clothing space)."""
    rows, face_ids, face_vecs, cl_ids, cl_vecs = [], [], [], [], []
    for u, spec in enumerate(units):
        for f in spec["frames"]:
            rows.append((f, u, spec.get("kind", "face"), spec.get("face"), spec.get("clothing")))
    rows.sort(key=lambda r: (r[0], r[1]))
    n = len(rows)
    for i, (_, _, kind, face, cloth) in enumerate(rows):
        if kind == "face" and face is not None:
            face_ids.append(i)
            face_vecs.append(face)
        if cloth is not None:
            cl_ids.append(i)
            cl_vecs.append(cloth)
    table = RunTable(detection_id=np.arange(n), frame_index=[r[0] for r in rows], time_s=[float(r[0]) for r in rows],
                     shot=np.zeros(n), kind=[r[2] for r in rows], x1=np.zeros(n), y1=np.zeros(n),
                     x2=np.ones(n), y2=np.ones(n), score=np.ones(n), track_id=[r[1] for r in rows],
                     unit_id=[r[1] for r in rows], person_id=np.full(n, -1), face_detection_id=np.full(n, -1),
                     body_detection_id=np.full(n, -1)).validate()
    faces = (np.array(face_ids, np.int64), np.array(face_vecs, np.float32).reshape(len(face_ids), -1))
    clothing = (np.array(cl_ids, np.int64), np.array(cl_vecs, np.float32).reshape(len(cl_ids), -1)) \
        if cl_ids else None
    return table, faces, clothing


def options(weight=0.5, veto=1.0, backend="dense"):
    return GroupingOptions(Fusion(FACE_CUT, CLOTH_CUT, weight, veto), min_person_detections=2, backend=backend)


@pytest.mark.parametrize("backend", ["dense", "scalable"])
def test_clearly_different_faces_in_identical_clothes_stay_two_people(backend):
    rng = np.random.default_rng(0)
    suit = unit_vector(rng, 32)
    a = unit_vector(rng, 64)
    b = at_distance(rng, a, 1.1 * FACE_CUT)  # clearly different: beyond the veto
    units = [{"frames": [0, 1, 2], "face": a, "clothing": suit}, {"frames": [5, 6, 7], "face": b, "clothing": suit},
             {"frames": [10, 11], "face": a, "clothing": suit}, {"frames": [14, 15], "face": b, "clothing": suit}]
    table, faces, clothing = make_run(units)
    people = group(build_units(table, faces, clothing), options(weight=0.9, veto=1.0, backend=backend)).unit_person
    assert people[0] == people[2] and people[1] == people[3] and people[0] != people[1]


@pytest.mark.parametrize("backend", ["dense", "scalable"])
def test_ambiguous_faces_with_matching_clothes_stay_one_person(backend):
    rng = np.random.default_rng(1)
    a = unit_vector(rng, 64)
    shirt, other_shirt = unit_vector(rng, 32), unit_vector(rng, 32)
    ambiguous = at_distance(rng, a, 0.9 * FACE_CUT)  # z = 0.9: just under the cut
    turned = at_distance(rng, a, 1.15 * FACE_CUT)    # beyond the cut on its own, under the veto
    units = [{"frames": [0, 1, 2], "face": a, "clothing": shirt},
             {"frames": [4, 5], "face": turned, "clothing": shirt}]
    table, faces, clothing = make_run(units)
    fused = group(build_units(table, faces, clothing), options(weight=0.5, veto=1.3, backend=backend))
    assert fused.unit_person[0] == fused.unit_person[1] >= 0
    faces_only = group(build_units(table, faces, None), options(weight=0.5, veto=1.3, backend=backend))
    assert faces_only.unit_person[0] != faces_only.unit_person[1]
    # dissimilar clothes never push apart two faces that match on their own
    units2 = [{"frames": [0, 1, 2], "face": a, "clothing": shirt},
              {"frames": [4, 5], "face": ambiguous, "clothing": other_shirt}]
    table, faces, clothing = make_run(units2)
    apart = group(build_units(table, faces, clothing), options(weight=0.9, veto=1.3, backend=backend)).unit_person
    assert apart[0] == apart[1] >= 0


@pytest.mark.parametrize("backend", ["dense", "scalable"])
def test_faceless_body_joins_the_person_wearing_its_clothes(backend):
    rng = np.random.default_rng(2)
    a, b = unit_vector(rng, 64), unit_vector(rng, 64)
    red, blue = unit_vector(rng, 32), unit_vector(rng, 32)
    units = [{"frames": [0, 1, 2], "face": a, "clothing": red}, {"frames": [3, 4, 5], "face": b, "clothing": blue},
             {"frames": [8, 9], "kind": "body", "clothing": unit_vector(rng, 32, red, 0.05)},
             {"frames": [20, 21, 22, 23], "kind": "body", "clothing": unit_vector(rng, 32)}]
    table, faces, clothing = make_run(units)
    people = group(build_units(table, faces, clothing), options(backend=backend)).unit_person
    assert people[2] == people[0] and people[0] != people[1]
    assert people[3] >= 0 and people[3] not in (people[0], people[1])  # strange clothes, seen long: own person


def test_faceless_body_never_joins_someone_in_the_same_frame():
    rng = np.random.default_rng(3)
    a, red = unit_vector(rng, 64), unit_vector(rng, 32)
    units = [{"frames": [0, 1, 2], "face": a, "clothing": red},
             {"frames": [2], "kind": "body", "clothing": red},  # same frame as a's face... but a body
             {"frames": [1], "kind": "body", "clothing": red}]
    table, faces, clothing = make_run(units)
    people = group(build_units(table, faces, clothing), options()).unit_person
    # bodies 1 and 2 never share a frame with each other; each may join person 0 (a face and a body in one
    # frame can be one person), but the two bodies must not be in one person with each other if they
    # shared a frame: here they do not, so both join
    assert people[1] == people[2] == people[0]


def test_people_sharing_a_frame_are_never_merged():
    rng = np.random.default_rng(4)
    a = unit_vector(rng, 64)
    twin = at_distance(rng, a, 0.1 * FACE_CUT)
    units = [{"frames": [0, 1, 2], "face": a}, {"frames": [2, 3, 4], "face": twin}]
    table, faces, _ = make_run(units)
    for backend in ("dense", "scalable"):
        people = group(build_units(table, faces, None), options(backend=backend)).unit_person
        assert people[0] != people[1]


def test_user_constraints_must_cannot_keep():
    rng = np.random.default_rng(5)
    a, b = unit_vector(rng, 64), unit_vector(rng, 64)
    units = [{"frames": [0, 1], "face": a}, {"frames": [3, 4], "face": a}, {"frames": [6, 7], "face": b},
             {"frames": [9], "face": unit_vector(rng, 64)}]
    table, faces, _ = make_run(units)
    u = build_units(table, faces, None)
    plain = group(u, options()).unit_person
    assert plain[0] == plain[1] != plain[2] and plain[3] == -1  # one sighting: noise
    c = Constraints(must=[[0, 2]], cannot=np.array([[0, 1]]), keep=[3])
    people = group(u, options(), c).unit_person
    assert people[0] == people[2] != people[1] and people[3] >= 0


def test_people_numbered_by_first_appearance_and_unknown_backend():
    rng = np.random.default_rng(6)
    a, b = unit_vector(rng, 64), unit_vector(rng, 64)
    table, faces, _ = make_run([{"frames": [10, 11], "face": a}, {"frames": [0, 1], "face": b}])
    people = group(build_units(table, faces, None), options()).unit_person
    assert people.tolist() == [1, 0]
    with pytest.raises(ConfigError, match="dense"):
        group(build_units(table, faces, None), options(backend="magic"))


def test_sums_linkage_equals_dense_linkage_with_corrections():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(40, 8))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    cut = 0.9
    plain = (1.0 - x @ x.T) / cut
    corr = np.zeros_like(plain)
    i, j = np.triu_indices(40, 1)
    pick = rng.random(len(i)) < 0.1
    corr[i[pick], j[pick]] = corr[j[pick], i[pick]] = -0.3 * rng.random(pick.sum())
    dense = plain + corr
    np.fill_diagonal(dense, 0)
    cannot = np.zeros((40, 40), bool)
    cannot[0, 1] = cannot[1, 0] = True
    expected = constrained_average_linkage(dense, cannot, 1.0)
    delta = {(a, b): corr[a, b] for a, b in zip(i[pick].tolist(), j[pick].tolist())}
    cl = [set() for _ in range(40)]
    cl[0].add(1)
    cl[1].add(0)
    roots = sums_average_linkage(x, np.ones(40), cut, cl, 1.0, delta)
    same_dense = expected[:, None] == expected[None, :]
    same_sums = roots[:, None] == roots[None, :]
    assert np.array_equal(same_dense, same_sums)
    assert len(np.unique(roots)) < 40  # something merged
