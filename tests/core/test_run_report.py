"""What the statistics panel says for a network run and for a prior-only run (pure functions)."""
from __future__ import annotations

from oaip_qgis.core.run_report import area, count, stats_sections

NETWORK_RUN = {
    "mode": "int8", "seed": 0, "device": "cpu", "detector": "network", "threshold_method": "otsu",
    "threshold": 0.27198, "changed_fraction": 0.377446, "changed_area": 852500.0, "valid_pixels": 22586,
    "model": {"params_before": 33040, "params_after": 20100, "bits_before": 1057280, "bits_after": 160800,
              "compression_ratio": 6.58, "bops_before": 51405389824, "bops_after": 30000000000},
    "pruning": {"layers": [{"name": "a0", "filters_before": 16, "filters_after": 12},
                           {"name": "b0", "filters_before": 16, "filters_after": 16}]},
    "training": {"seconds": 41.6, "epochs": 2, "peak_bytes": 10 * 2 ** 20, "fp32_equivalent_peak_bytes": 40 * 2 ** 20,
                 "pseudo_labels": {"changed": 114, "unchanged": 2274, "analyst": 7}, "loss": [0.76149, 0.46416],
                 "optimiser": "adamax", "integer_kernels": "torch"},
    "initial_weights": "seeded (0)",
    "metrics": {"oa": 0.61, "kappa": 0.0667, "f1": 0.267, "precision": 0.187, "recall": 0.469, "auc": None},
    "timing": {"align": 0.06, "prior": 0.61, "train": 41.65, "total": 43.43},
}


def rows(stats: dict) -> dict:
    return {title: dict(section) for title, section in stats_sections(stats)}


def test_network_run_shows_costs_before_and_after_pruning():
    shown = rows(NETWORK_RUN)
    assert list(shown)[:2] == ["Result", "Accuracy against the reference"]
    assert shown["Result"]["Changed area"] == "85.25 ha"
    assert shown["Result"]["Changed fraction"] == "37.74 %"
    assert shown["Model"]["Parameters"] == "33 k → 20.1 k"
    assert shown["Model"]["BOPs"] == "51.4 G → 30 G"
    assert shown["Model"]["Compression ratio (vs fp32 unpruned)"] == "6.58 ×"
    assert shown["Filters per layer (before → after)"] == {"a0": "16 → 12", "b0": "16 → 16"}
    training = shown["Training"]
    assert training["Peak memory"] == "10.00 MiB"
    assert training["Peak memory, fp32 equivalent"] == "40.00 MiB (4.0 ×)"
    assert training["Analyst samples (pixels)"] == "7" and training["Pseudo-labels unchanged"] == "2,274"
    assert training["Initial weights"] == "seeded (0)" and training["Optimiser"] == "adamax"
    assert training["Integer kernels"] == "torch ops (kernels not built)"
    assert shown["Accuracy against the reference"]["AUC"] == "–"
    assert shown["Seconds per phase"]["Training"] == "41.65"


def test_a_run_of_two_networks_says_its_figures_are_both_networks():
    stats = {**NETWORK_RUN, "model": {**NETWORK_RUN["model"], "networks": 2}}
    shown = rows(stats)
    assert shown["Model"]["Networks (their mean is the detector; figures summed)"] == "2"
    assert shown["Filters per layer, all networks (before → after)"] == {"a0": "16 → 12", "b0": "16 → 16"}
    assert "Networks (their mean is the detector; figures summed)" not in rows(NETWORK_RUN)["Model"]


def test_prior_run_leaves_out_what_it_did_not_compute():
    prior = {key: value for key, value in NETWORK_RUN.items()
             if key not in ("model", "pruning", "training", "metrics")}
    assert list(rows(prior)) == ["Result", "Seconds per phase", "Run"]


def test_slider_threshold_says_accuracy_is_from_the_run():
    moved = {**NETWORK_RUN, "threshold": 0.5, "threshold_method": "slider", "run_threshold": 0.27198}
    titles = list(rows(moved))
    assert "Accuracy against the reference (at the run's threshold 0.2720)" in titles


def test_a_partial_reference_says_how_much_it_covers():
    partial = {**NETWORK_RUN, "metrics": {**NETWORK_RUN["metrics"], "reference_coverage": 0.4213}}
    assert rows(partial)["Accuracy against the reference"]["Reference covers"] == "42.1 % of the valid pixels"
    nothing = {**NETWORK_RUN, "metrics": {"kappa": None, "reference_coverage": 0.0}}
    assert rows(nothing)["Accuracy against the reference"]["Kappa"] == "–"


def test_ratios_with_nothing_to_divide_by_are_shown_as_undefined_not_as_zero():
    """An unchanged scene mapped unchanged against its reference read as F1, precision and recall 0.0000."""
    def accuracy(tp, fp, fn):
        metrics = {"oa": 1.0, "kappa": None, "f1": 0.0, "precision": 0.0, "recall": 0.0, "auc": None,
                   "tp": tp, "fp": fp, "tn": 1000, "fn": fn}
        shown = rows({**NETWORK_RUN, "metrics": metrics})["Accuracy against the reference"]
        return shown["F1"], shown["Precision"], shown["Recall"]

    assert accuracy(0, 0, 0) == ("–", "–", "–")
    assert accuracy(0, 0, 5) == ("0.0000", "–", "0.0000")   # change missed: F1 0 is a measure
    assert accuracy(0, 5, 0) == ("0.0000", "0.0000", "–")   # marked where nothing changed


def test_units():
    assert count(51405389824) == "51.4 G" and count(999) == "999"
    assert area(852500.0) == "85.25 ha" and area(3.5e6) == "3.500 km²"


def test_the_evidence_verdict_is_shown_first():
    """An empty change layer says why: the scene's strongest disagreement is below the no-change limit."""
    unchanged = {**NETWORK_RUN, "changed_fraction": 0.0, "evidence": {
        "significant": False, "peak": 1.93, "no_change_peak": 2.3, "floor_ratio": 1.75}}
    result = rows(unchanged)["Result"]
    assert list(result)[0] == "Evidence"
    assert result["Evidence"].startswith("no significant change: the most disagreeing 0.5 % is 1.9×")
    manual = {**unchanged, "threshold_method": "manual", "changed_fraction": 0.12,
              "evidence": {**unchanged["evidence"], "applied": False}}   # the map is the analyst's threshold's
    assert rows(manual)["Result"]["Evidence"].startswith(
        "no significant change (not applied: manual threshold): the most disagreeing 0.5 % is 1.9×")
    changed = {**NETWORK_RUN, "evidence": {"significant": True, "peak": None, "no_change_peak": 2.3}}
    assert rows(changed)["Result"]["Evidence"].startswith("change found: the most disagreeing 0.5 % is ∞×")
    weak = {**NETWORK_RUN, "evidence": {"significant": True, "peak": 3.1, "no_change_peak": 2.3, "weak": True}}
    assert rows(weak)["Result"]["Evidence"].startswith(
        "change found, weak evidence: the most disagreeing 0.5 % is 3.1×")
    groups = {**NETWORK_RUN, "evidence": {"significant": False, "peak": 2.1, "no_change_peak": 2.3, "weak": True,
                                          "groups": 3}}
    assert rows(groups)["Result"]["Evidence"].startswith(
        "no significant change over the scene, but 3 compact group(s) marked changed, weak evidence: the most "
        "disagreeing 0.5 % is 2.1×")
    scattered = {**NETWORK_RUN, "changed_fraction": 0.0, "evidence": {
        "significant": False, "peak": 2.4, "no_change_peak": 2.3, "scattered": True}}
    assert rows(scattered)["Result"]["Evidence"].startswith(
        "no significant change (scattered places only, no compact group above the line): the most disagreeing "
        "0.5 % is 2.4×")
    wide = {**NETWORK_RUN, "changed_fraction": 0.0, "evidence": {
        "significant": False, "peak": 1.7, "no_change_peak": 2.3, "wide_spread": True, "direct_spread": 3.42,
        "spread_measure": "log_ratio"}}
    assert rows(wide)["Result"]["Evidence"].startswith(
        "no significant change, but the log-ratio spreads 3.4× (if both images are of one kind, run again with "
        "'Both images are of one kind'): the most disagreeing 0.5 % is 1.7×")
    beside = {**NETWORK_RUN, "changed_fraction": 0.0, "evidence": {
        "significant": True, "peak": 6.2, "no_change_peak": 2.3, "within": 0.0}}   # an AOI of unchanged land
    assert rows(beside)["Result"]["Evidence"].startswith(
        "nothing marked within the area of interest; change found on the ground around it: the most disagreeing 0.5 %")
    weakly = {**beside, "evidence": {**beside["evidence"], "weak": True, "peak": 3.1}}
    assert rows(weakly)["Result"]["Evidence"].startswith(
        "nothing marked within the area of interest; weak change found on the ground around it: the most")
    quiet = {**beside, "evidence": {**beside["evidence"], "significant": False, "peak": 1.9}}
    assert rows(quiet)["Result"]["Evidence"].startswith("no significant change: the most")
    fire = {**wide, "evidence": {**wide["evidence"], "direct_spread": 6.04, "spread_measure": "canonical_difference"}}
    assert rows(fire)["Result"]["Evidence"].startswith(
        "no significant change, but the IR-MAD canonical difference spreads 6.0× (if both")
    alike = {**NETWORK_RUN, "evidence": {"significant": True, "peak": 9.3, "no_change_peak": 2.3, "alike": 0.96}}
    assert rows(alike)["Result"]["Evidence"].startswith(
        "change found, mapped from the log-ratio (much change of one kind): the most disagreeing 0.5 % is 9.3×")
    burnt = {**NETWORK_RUN, "evidence": {**alike["evidence"], "spread_measure": "canonical_difference"}}
    assert rows(burnt)["Result"]["Evidence"].startswith(
        "change found, mapped from the IR-MAD canonical difference (much change of one kind)")
    quake = {**NETWORK_RUN, "evidence": {"significant": True, "peak": 2.6, "no_change_peak": 2.3, "weak": True,
                                         "groups": 7, "joined_spread": 6.26, "joined_measure": "canonical_difference"}}
    assert rows(quake)["Result"]["Evidence"].startswith(
        "change found, weak evidence, but the IR-MAD canonical difference spreads 6.3× (if both images are of one "
        "kind, run again with 'Both images are of one kind': the map is then not confined to compact groups)")
    asked = {**quake, "evidence": {**quake["evidence"], "groups": 0, "one_kind": True}}
    assert rows(asked)["Result"]["Evidence"].startswith(
        "change found, weak evidence, not confined to compact groups (images of one kind; the IR-MAD canonical "
        "difference spreads 6.3×)")
    crowded = {**NETWORK_RUN, "evidence": {"significant": True, "peak": 4.5, "no_change_peak": 2.3, "crowded": 0.3995}}
    assert rows(crowded)["Result"]["Evidence"].startswith(
        "change found, by a second pass as if 40 % of the scene had changed (much of it changed alike): the most "
        "disagreeing 0.5 % is 4.5×")
    assert "Evidence" not in rows(NETWORK_RUN)["Result"]    # stats written before the verdict existed


def test_the_run_section_says_whether_t2_was_shifted():
    assert "Co-registration" not in rows(NETWORK_RUN)["Run"]   # not asked
    shifted = rows({**NETWORK_RUN, "coregistration": {"rows": 2, "cols": -3, "gain": 1.3104}})["Run"]
    assert shifted["Co-registration"] == "T2 read +2 row(s), -3 column(s) on (information ×1.31)"
    kept = rows({**NETWORK_RUN, "coregistration": {"rows": 0, "cols": 0, "gain": 1.04}})["Run"]
    assert kept["Co-registration"] == "no shift found"
    far = rows({**NETWORK_RUN, "coregistration": {"rows": 20, "cols": 18, "gain": 4.58, "edge": True}})["Run"]
    assert far["Co-registration"] == ("T2 read +20 row(s), +18 column(s) on (information ×4.58); as far as the "
                                      "search goes: the images may lie further apart")


def test_the_run_section_says_which_prior_made_the_map():
    assert "Change seen" not in rows(NETWORK_RUN)["Run"]   # stats written before release 0.16.0
    assert rows({**NETWORK_RUN, "prior_one_sided": True})["Run"]["Change seen"] == (
        "from either image alone too (one-sided change counted)")
    assert rows({**NETWORK_RUN, "prior_one_sided": False})["Run"]["Change seen"] == "from both images"


def test_the_run_section_says_what_was_white_and_what_the_run_made_of_it():
    assert "White places" not in rows(NETWORK_RUN)["Run"]   # stats written before release 0.18.0, or no such image
    places = {"T2": {"white": 0.081, "marked_on_white": 0.64}, "masked": False, "noted": True}
    assert rows({**NETWORK_RUN, "white_places": places})["Run"]["White places"] == (
        "T2: 8.1 % of the overlap, 64 % of the prior's marked change (possibly cloud: see the log; MASK_CLOUDS "
        "leaves such places out)")
    masked = {"T1": {"white": 0.0, "marked_on_white": 0.0}, "T2": {"white": 0.081, "marked_on_white": 0.0},
              "masked": True, "noted": False}
    assert rows({**NETWORK_RUN, "white_places": masked})["Run"]["White places"] == (
        "T1: 0.0 % of the overlap, 0 % of the prior's marked change; T2: 8.1 % of the overlap, 0 % of the prior's "
        "marked change "
        "(left out as cloud: MASK_CLOUDS)")
    aoi = {**NETWORK_RUN, "white_places": places, "parameters": {"aoi": "flood.gpkg"}}   # counted within the AOI
    assert rows(aoi)["Run"]["White places"].startswith("T2: 8.1 % of the area of interest, 64 %")


def test_the_run_section_says_when_the_network_learnt_too_little_change_to_veto():
    few = {"applied": False, "vetoed_share": 0.25, "least_share": 0.12, "prior_changed_pixels": 900,
           "extended": False, "added_pixels": 0, "changed_label_pixels": 640, "least_changed_label_pixels": 1200}
    assert rows({**NETWORK_RUN, "network_confirmation": few})["Run"]["Network confirmation"] == (
        "not applied: the network vetoes 25.0 % of the prior's change, but learnt change from only 640 pixel(s) "
        "(under 1200), so the map is the prior's")
    whole = {**few, "changed_label_pixels": 5000, "whole_region_share": 0.7712, "most_whole_region_share": 0.6}
    assert rows({**NETWORK_RUN, "network_confirmation": whole})["Run"]["Network confirmation"] == (
        "not applied: the network vetoes 25.0 % of the prior's change, but 77 % of that lies in regions it rejects "
        "whole (at least 60 %), a kind of change it did not learn, so the map is the prior's")
    small = {**few, "vetoed_share": 0.05}     # a small veto is not applied whatever the labels
    assert rows({**NETWORK_RUN, "network_confirmation": small})["Run"]["Network confirmation"].startswith(
        "not applied: the network vetoes only 5.0 %")


def test_the_run_section_says_whether_the_images_were_compared_directly():
    assert "Direct comparison" not in rows(NETWORK_RUN)["Run"]   # stats written before the check existed
    used = {"measure": "canonical_difference", "agreement": 0.9841, "least_agreement": 0.95, "used": True}
    assert rows({**NETWORK_RUN, "direct_comparison": used})["Run"]["Direct comparison"] == (
        "used: the IR-MAD canonical difference agrees with the prior at AUC 0.984 (at least 0.95)")
    older = {key: value for key, value in used.items() if key != "measure"}   # 0.7: the log-ratio only
    assert "the log-ratio agrees" in rows({**NETWORK_RUN, "direct_comparison": older})["Run"]["Direct comparison"]
    near = {**used, "agreement": 0.9446, "used": False, "near_line": True}
    assert rows({**NETWORK_RUN, "direct_comparison": near})["Run"]["Direct comparison"].endswith(
        "(at least 0.95) (near the line: another seed may map it the other way)")
    refused = {**used, "agreement": 0.7473, "used": False}
    assert rows({**NETWORK_RUN, "direct_comparison": refused})["Run"]["Direct comparison"].startswith("not used: ")
    apart = {**used, "agreement": None, "used": False}
    assert "cannot be compared" in rows({**NETWORK_RUN, "direct_comparison": apart})["Run"]["Direct comparison"]
    unshared = {**apart, "refusal": "shared", "canonical_correlations": [0.93, 0.29]}
    assert "share fewer than two" in rows({**NETWORK_RUN, "direct_comparison": unshared})["Run"]["Direct comparison"]


def test_the_run_section_says_whether_the_network_confirmation_was_applied():
    assert "Network confirmation" not in rows(NETWORK_RUN)["Run"]   # stats written before the gate existed
    applied = {"applied": True, "vetoed_share": 0.2837, "least_share": 0.12, "prior_changed_pixels": 8570}
    assert rows({**NETWORK_RUN, "network_confirmation": applied})["Run"]["Network confirmation"] == (
        "applied: the network vetoes 28.4 % of the prior's change (at least 12 %)")
    removed = {**applied, "regions_removed_whole": 14, "pixels_removed_whole": 512}
    assert rows({**NETWORK_RUN, "network_confirmation": removed})["Run"]["Network confirmation"] == (
        "applied: the network vetoes 28.4 % of the prior's change (at least 12 %), and removes whole the 14 "
        "region(s) it confirms in under half their pixels")
    kept = {**applied, "applied": False, "vetoed_share": 0.1093}
    assert rows({**NETWORK_RUN, "network_confirmation": kept})["Run"]["Network confirmation"] == (
        "not applied: the network vetoes only 10.9 % of the prior's change (under 12 %), so the map is the prior's")
    near = {**kept, "vetoed_share": 0.1172, "near_line": True}
    assert rows({**NETWORK_RUN, "network_confirmation": near})["Run"]["Network confirmation"] == (
        "not applied: the network vetoes only 11.7 % of the prior's change (under 12 %), so the map is the prior's"
        " (near the line: another seed may map it the other way)")
    extended = {**kept, "extended": True, "added_pixels": 18267, "vetoed_share": 0.0221}
    assert rows({**NETWORK_RUN, "network_confirmation": extended})["Run"]["Network confirmation"] == (
        "finding more like the changed samples: the network adds 18267 pixel(s) the prior leaves under its cut "
        "and vetoes 2.2 % of the prior's change")
