"""Metric functions against hand-computed answers, and `facecluster eval` on a hand-made run."""

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from facecluster.cli import main
from facecluster.evaluate import metrics as M
from facecluster.evaluate.harness import evaluate, format_table

# Worked example. Items 0-5, truth A A A B B C, prediction 1 1 2 2 2 noise:
#   cluster 1 = {A, A}, cluster 2 = {A, B, B}, noise item 5 = its own singleton {C}.
# BCubed precision per item: 2/2, 2/2, 1/3, 2/3, 2/3, 1/1 -> sum 14/3, mean 7/9
# BCubed recall per item:    2/3, 2/3, 1/3, 2/2, 2/2, 1/1 -> sum 14/3, mean 7/9
# Pairwise: predicted pairs (0,1) ok, (2,3) no, (2,4) no, (3,4) ok -> P = 2/4;
#           true pairs A: 3, B: 1 -> R = 2/4.
# WCP: majority counts 2 + 2 + 1 over 6 items = 5/6.
# NMI: H(T) = H(P) = entropy of (3, 2, 1)/6 = 1.011404;
#      MI = 1/3 ln 2 + 1/6 ln(2/3) + 1/3 ln 2 + 1/6 ln 6 = ln 2 = 0.693147 -> NMI = 0.685331.
TRUTH = ["A", "A", "A", "B", "B", "C"]
PRED = [1, 1, 2, 2, 2, -1]


def test_worked_example():
    b = M.bcubed(TRUTH, PRED)
    assert b["precision"] == pytest.approx(7 / 9) and b["recall"] == pytest.approx(7 / 9)
    assert b["f"] == pytest.approx(7 / 9)
    p = M.pairwise(TRUTH, PRED)
    assert (p["precision"], p["recall"], p["f"]) == pytest.approx((0.5, 0.5, 0.5))
    assert M.wcp(TRUTH, PRED) == pytest.approx(5 / 6)
    h = -(0.5 * math.log(0.5) + math.log(1 / 3) / 3 + math.log(1 / 6) / 6)
    assert M.nmi(TRUTH, PRED) == pytest.approx(math.log(2) / h)
    assert M.nmi(TRUTH, PRED) == pytest.approx(0.685331, abs=1e-6)


def test_nmi_matches_sklearn_with_noise_as_singletons():
    from sklearn.metrics import normalized_mutual_info_score

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 5, 200)
    pred = rng.integers(-1, 6, 200)
    unique = [p if p >= 0 else 1000 + i for i, p in enumerate(pred)]
    assert M.nmi(truth, pred) == pytest.approx(normalized_mutual_info_score(truth, unique))


def test_perfect_clustering_label_names_do_not_matter():
    truth, pred = ["a", "a", "b", "b", "c"], [5, 5, 7, 7, 9]
    r = M.clustering_report(truth, pred)
    assert r["bcubed"]["f"] == r["pairwise"]["f"] == r["nmi"] == r["wcp"] == 1.0
    assert r["true_people"] == r["predicted_people"] == 3 and r["noise_fraction"] == 0.0


def test_all_in_one_cluster():
    # each item shares its cluster of 4 with 2 of its identity: P = 2/4, R = 1; 6 predicted pairs, 2 true
    truth, pred = ["A", "A", "B", "B"], [0, 0, 0, 0]
    b = M.bcubed(truth, pred)
    assert (b["precision"], b["recall"], b["f"]) == pytest.approx((0.5, 1.0, 2 / 3))
    p = M.pairwise(truth, pred)
    assert (p["precision"], p["recall"]) == pytest.approx((1 / 3, 1.0))
    assert M.nmi(truth, pred) == 0.0
    assert M.wcp(truth, pred) == 0.5


def test_all_singletons_and_all_noise_are_the_same():
    # P = 1, BCubed R = 1/2 per item; no predicted pairs -> pairwise P = 1 (vacuous), R = 0;
    # NMI = ln2 / ((ln2 + ln4) / 2) = 2/3; WCP = 1 (singletons are pure)
    truth = ["A", "A", "B", "B"]
    for pred in ([0, 1, 2, 3], [-1, -1, -1, -1]):
        b = M.bcubed(truth, pred)
        assert (b["precision"], b["recall"], b["f"]) == pytest.approx((1.0, 0.5, 2 / 3))
        p = M.pairwise(truth, pred)
        assert (p["precision"], p["recall"], p["f"]) == (1.0, 0.0, 0.0)
        assert M.nmi(truth, pred) == pytest.approx(2 / 3)
        assert M.wcp(truth, pred) == 1.0
    r = M.clustering_report(truth, [-1, -1, 0, 0])
    assert r["noise_fraction"] == 0.5 and r["predicted_people"] == 1


def test_noise_never_merges_identities():
    assert M.bcubed(["A", "B"], [-1, -1])["f"] == 1.0
    assert M.people_count([-1, -1, 3, 3, 4]) == 2


def test_empty_and_mismatched_inputs():
    assert M.bcubed([], [])["f"] == 1.0 and M.nmi([], []) == 1.0 and M.wcp([], []) == 1.0
    with pytest.raises(ValueError):
        M.bcubed(["A"], [1, 2])


def box(x1, x2):
    return [x1, 0, x2, 10]


def test_match_boxes_hungarian_beats_greedy():
    # IoU (1-D, same y range): t0-p0 9/11, t1-p0 8/12, t0-p1 8/12, t1-p1 5/15.
    # Greedy takes t0-p0 and leaves t1 unmatched; the optimal assignment matches both.
    truth, pred = [box(0, 10), box(3, 13)], [box(1, 11), box(-2, 8)]
    matches = M.match_boxes(truth, pred, 0.5)
    assert sorted((t, p) for t, p, _ in matches) == [(0, 1), (1, 0)]
    assert all(v == pytest.approx(2 / 3) for _, _, v in matches)


def test_match_boxes_threshold_and_empty():
    truth, pred = [box(0, 10)], [box(4, 14)]  # IoU 6/14 = 0.43
    assert M.match_boxes(truth, pred, 0.5) == []
    assert [(t, p) for t, p, _ in M.match_boxes(truth, pred, 0.4)] == [(0, 0)]
    assert M.match_boxes([], pred) == [] and M.match_boxes(truth, np.zeros((0, 4))) == []


def test_match_frames_counts_and_pairs():
    truth = {0: [("A", box(0, 10)), ("B", box(20, 30))], 5: [("A", box(0, 10))], 7: [("B", box(0, 10))]}
    pred = {0: [(1, box(0, 10)), (2, box(50, 60))], 5: [(1, box(1, 10))]}
    # frames 0 and 5 sampled: truth 3, predicted 3, matched 2 (B in frame 0 missed, one false positive);
    # frame 7 is not sampled and is ignored unless listed
    m = M.match_frames(truth, pred, iou=0.5)
    assert (m["frames"], m["true"], m["predicted"], m["matched"]) == (2, 3, 3, 2)
    assert m["recall"] == pytest.approx(2 / 3) and m["precision"] == pytest.approx(2 / 3)
    assert m["pairs"] == [("A", 1), ("A", 1)] and m["mean_iou"] == pytest.approx((1 + 0.9) / 2)
    m = M.match_frames(truth, pred, frames=[0, 5, 7])
    assert m["true"] == 4 and m["recall"] == pytest.approx(0.5)


def write_outdir(folder, rows, frames):
    """A real OUTDIR (through runfolder, as `run` writes one) holding hand-made face rows
    (detection_id, frame, kind, box, person id) and the sampled `frames`; each row is its own unit."""
    from facecluster.config import Config
    from facecluster.results.state import Regrouped, result_set
    from facecluster.runfolder import RunFolder, read_extraction
    from facecluster.runfolder.layout import EXTRACTION, THUMBS
    from facecluster.table import RunTable

    n = len(rows)
    ids = np.arange(n)
    boxes = np.array([b for _, _, _, b, _ in rows], np.float32)
    frame = np.array([f for _, f, _, _, _ in rows])
    table = RunTable(detection_id=ids, frame_index=frame, time_s=frame / 25, shot=np.zeros(n),
                     kind=[k for _, _, k, _, _ in rows], x1=boxes[:, 0], y1=boxes[:, 1], x2=boxes[:, 2],
                     y2=boxes[:, 3], score=np.full(n, 0.9), track_id=ids, unit_id=ids,
                     person_id=np.full(n, -1), face_detection_id=np.full(n, -1), body_detection_id=np.full(n, -1))
    rf = RunFolder(folder)
    rf.prepare_for_run()
    meta = {"run_id": "hand-made", "fingerprint": "hand-made", "config": Config().to_dict(), "face_prior": 0.5,
            "video": {"duration_s": 0.12}, "spaces": {"face": 2}}
    writer, _ = rf.open_checkpoint("hand-made", meta)
    vectors = np.tile([[1.0, 0.0]], (n, 1)).astype(np.float32)
    writer.append(table, {"face": (ids, vectors)}, [(f, f / 25, 0) for f in frames], {})
    links = {"face_detection_id": table.face_detection_id, "body_detection_id": table.body_detection_id}
    writer.finish(ids, ids, links, {})
    writer.close()
    extraction = read_extraction(rf.checkpoint / EXTRACTION)
    unit_person = np.array([p for *_, p in rows], np.int64)
    with rf.writing():
        rf.commit(result_set(extraction, Config(), Regrouped(unit_person, unit_person), {"input": {}, "counts": {}},
                             rf.path, [], new_extraction=rf.checkpoint / EXTRACTION, new_thumbs=rf.checkpoint / THUMBS))
    return folder


def _episode(tmp_path):
    """A 3-frame truth file and a run sampling frames 0 and 2 that finds A twice (as person 0), B once
    (as noise) and a stranger (person 1)."""
    objects = [[{"identity": "A", "kind": "face", "box": box(0, 10), "tags": []},
                {"identity": "A", "kind": "person", "box": [0, 0, 20, 40], "tags": []},
                {"identity": "B", "kind": "face", "box": box(30, 40), "tags": ["tiny"]}]] * 3
    truth = {"format": "facecluster-truth/1", "video": {"width": 64, "height": 48, "fps": 25, "frames": 3},
             "frames": [{"frame_index": i, "time_s": i / 25, "shot": 0, "objects": o} for i, o in enumerate(objects)]}
    (tmp_path / "truth.json").write_text(json.dumps(truth))
    rows = [(0, 0, "face", box(0, 10), 0), (1, 0, "face", box(30, 40), -1), (2, 2, "face", box(0, 10), 0),
            (3, 2, "face", box(45, 55), 1)]
    return write_outdir(tmp_path / "run", rows, [0, 2]), tmp_path / "truth.json"


def test_evaluate_on_hand_made_run(tmp_path):
    out, truth = _episode(tmp_path)
    r = evaluate(out, truth)
    faces = r["faces"]
    # sampled frames 0 and 2: 4 true faces, 4 predicted, 3 matched (B missed in frame 2)
    assert r["sampled_frames"] == 2
    d = faces["detection"]
    assert (d["true"], d["predicted"], d["matched"]) == (4, 4, 3)
    assert d["recall_by_tag"]["tiny"] == {"true": 2, "recall": 0.5}
    # matched pairs (A,0), (B,noise), (A,0): perfect grouping, one noise item
    c = faces["clustering"]
    assert c["bcubed"]["f"] == 1.0 and c["noise_fraction"] == pytest.approx(1 / 3)
    assert faces["people"] == {"true": 2, "true_in_sampled_frames": 2, "predicted": 2}
    # persons: none predicted -> recall 0, nothing to cluster
    assert r["persons"]["detection"]["recall"] == 0.0 and r["persons"]["clustering"]["items"] == 0
    assert json.loads((out / "eval.json").read_text())["faces"]["detection"]["matched"] == 3
    assert "BCubed P / R / F" in format_table(r)


def test_eval_cli_table_and_errors(tmp_path):
    out, truth = _episode(tmp_path)
    runner = CliRunner()
    res = runner.invoke(main, ["eval", str(out), "--truth", str(truth), "--json", str(tmp_path / "e.json")])
    assert res.exit_code == 0, res.output
    assert "detection recall" in res.output and (tmp_path / "e.json").is_file()
    res = runner.invoke(main, ["eval", str(tmp_path / "missing"), "--truth", str(truth)])
    assert res.exit_code == 5 and "not a facecluster output folder" in res.output
    (tmp_path / "bad.json").write_text("{}")
    res = runner.invoke(main, ["eval", str(out), "--truth", str(tmp_path / "bad.json")])
    assert res.exit_code == 3 and "not a facecluster-truth/1 truth file" in res.output
