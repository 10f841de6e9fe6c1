"""The run's statistics dict (stats.json) as titled sections of (label, value) text rows: the dock's Results tab and
`make detect`'s report read them alike.

Pure functions, no widgets: what the analyst reads is decided here and tested without QGIS.
Sections whose numbers the run did not produce (no reference, no network) are left out.
"""
from __future__ import annotations

from .decision.evidence import found_around_only, verdict_word
from .i18n import QT_TRANSLATE_NOOP, tr
from .labels.direct_comparison import measure_label
from .metrics import percent_down

Section = tuple[str, list[tuple[str, str]]]

# Labels shown through tr() where they are used; QT_TRANSLATE_NOOP marks them for the translation tools.
PHASES = {"align": QT_TRANSLATE_NOOP("OAIP", "Align the pair"), "prior": QT_TRANSLATE_NOOP("OAIP", "Change prior"),
          "train": QT_TRANSLATE_NOOP("OAIP", "Training"), "infer": QT_TRANSLATE_NOOP("OAIP", "Difference image"),
          "write": QT_TRANSLATE_NOOP("OAIP", "Write outputs"), "total": QT_TRANSLATE_NOOP("OAIP", "Total")}
METRICS = (("oa", QT_TRANSLATE_NOOP("OAIP", "Overall accuracy")), ("kappa", QT_TRANSLATE_NOOP("OAIP", "Kappa")),
           ("f1", QT_TRANSLATE_NOOP("OAIP", "F1")), ("precision", QT_TRANSLATE_NOOP("OAIP", "Precision")),
           ("recall", QT_TRANSLATE_NOOP("OAIP", "Recall")), ("auc", QT_TRANSLATE_NOOP("OAIP", "AUC")))


def count(value: float) -> str:
    """Large counts with an SI prefix (BOPs run into the tens of billions)."""
    value = float(value)
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}"
    return f"{value:.4g}"


def mebibytes(value: float) -> str:
    return f"{value / 2 ** 20:.2f} MiB"


def area(square_metres: float) -> str:
    if square_metres >= 1e6:
        return f"{square_metres / 1e6:.3f} km²"
    return f"{square_metres / 1e4:.2f} ha"


def before_after(before: float, after: float) -> str:
    return f"{count(before)} → {count(after)}"


def _result(stats: dict) -> Section:
    rows = [(tr("Threshold"), f"{stats['threshold']:.4f} ({stats['threshold_method']})"),
            (tr("Changed area"), area(stats["changed_area"])),
            (tr("Changed fraction"), f"{100 * stats['changed_fraction']:.2f} %"),
            (tr("Valid pixels"), f"{stats['valid_pixels']:,}")]
    if "prior_cut" in stats:   # where the prior crosses the score's 0.5 (decision.score)
        rows.insert(1, (tr("Prior's cut"), f"{stats['prior_cut']:.4f} ({stats['prior_threshold_method']})"))
    evidence = stats.get("evidence")
    word = verdict_word(evidence)
    if word is not None:   # the no-change verdict: why an empty layer is empty, or why change was believed
        verdict = {"none": tr("no significant change"), "weak": tr("change found, weak evidence"),
                   "change": tr("change found")}[word]
        if found_around_only(evidence):
            verdict = tr("nothing marked within the area of interest; {found} on the ground around it").format(
                found=tr("weak change found") if evidence.get("weak") else tr("change found"))
        elif not evidence["significant"] and evidence.get("groups"):   # decision.local_change
            verdict = tr("no significant change over the scene, but {groups} compact group(s) marked changed, "
                         "weak evidence").format(groups=evidence["groups"])
        elif evidence.get("scattered"):   # a weak peak over the line, but no compact group above it
            verdict = tr("no significant change (scattered places only, no compact group above the line)")
        measure = measure_label(evidence.get("spread_measure") or "log_ratio")
        if evidence.get("wide_spread"):   # decision.evidence: a direct measure spreads as wide change does
            verdict = tr("{verdict}, but the {measure} spreads {spread:.1f}× (if both images are of one kind, run "
                         "again with 'Both images are of one kind')").format(verdict=verdict, measure=measure,
                                                                             spread=evidence["direct_spread"])
        elif evidence.get("alike") is not None:   # mapped from a direct measure: much change of one kind
            verdict = tr("{verdict}, mapped from the {measure} (much change of one kind)").format(verdict=verdict,
                                                                                                measure=measure)
        elif evidence.get("joined_spread") is not None:   # stages.prior._confined_or_not: the joined measure spreads
            joined = measure_label(evidence.get("joined_measure") or "log_ratio")
            if evidence.get("one_kind"):
                verdict = tr("{verdict}, not confined to compact groups (images of one kind; the {measure} spreads "
                             "{spread:.1f}×)").format(verdict=verdict, measure=joined, spread=evidence["joined_spread"])
            else:
                verdict = tr("{verdict}, but the {measure} spreads {spread:.1f}× (if both images are of one kind, run "
                             "again with 'Both images are of one kind': the map is then not confined to compact "
                             "groups)").format(verdict=verdict, measure=joined, spread=evidence["joined_spread"])
        elif evidence.get("crowded") is not None:   # labels.crowded_change: a second pass kept
            verdict = tr("{verdict}, by a second pass as if {percent:.0f} % of the scene had changed (much of "
                         "it changed alike)").format(verdict=verdict, percent=100 * evidence["crowded"])
        if evidence.get("rescaled_copy") is not None:   # labels.rescaled_copy
            verdict = tr("{verdict} (T2 is T1 with each band rescaled: the same image)").format(verdict=verdict)
        if evidence.get("applied") is False:   # the analyst's threshold made the map, as the log says
            verdict = tr("{verdict} (not applied: manual threshold)").format(verdict=verdict)
        peak = "∞" if evidence["peak"] is None else f"{evidence['peak']:.1f}"
        rows.insert(0, (tr("Evidence"), tr("{verdict}: the most disagreeing 0.5 % is {peak}× the scene's typical "
                                           "disagreement (no change below {limit:g}×)").format(
            verdict=verdict, peak=peak, limit=evidence["no_change_peak"])))
    return tr("Result"), rows


def _undefined(metrics: dict) -> set[str]:
    """The ratios with nothing to divide by, which the statistics give as 0: nothing marked (precision), nothing
    changed in the reference (recall), neither marked nor changed anywhere (F1, 2tp / (2tp + fp + fn)). An
    unchanged scene mapped unchanged read as F1 0.0000."""
    tp, fp, fn = (metrics.get(key) for key in ("tp", "fp", "fn"))
    if tp is None or fp is None or fn is None:
        return set()
    return {key for key, count in (("precision", tp + fp), ("recall", tp + fn), ("f1", tp + fp + fn)) if count == 0}


def _accuracy(stats: dict) -> Section | None:
    metrics = stats.get("metrics")
    if not metrics:
        return None
    undefined = _undefined(metrics)
    rows = [(tr(label), "–" if metrics.get(key) is None or key in undefined else f"{metrics[key]:.4f}")
            for key, label in METRICS]
    coverage = metrics.get("reference_coverage")
    if coverage is not None:     # accuracy is measured only where the reference has data
        covers = tr("{percent:.1f} % of the valid pixels").format(percent=percent_down(coverage))
        rows.append((tr("Reference covers"), covers))
    title = tr("Accuracy against the reference")
    if "run_threshold" in stats:
        title += tr(" (at the run's threshold {threshold:.4f})").format(threshold=stats["run_threshold"])
    return title, rows


def _model(stats: dict) -> Section | None:
    model = stats.get("model")
    if not model:
        return None
    networks = int(model.get("networks", 1))
    rows = [(tr("Networks (their mean is the detector; figures summed)"), str(networks))] if networks > 1 else []
    return tr("Model"), rows + [
        (tr("Parameters"), before_after(model["params_before"], model["params_after"])),
        (tr("Model bits"), before_after(model["bits_before"], model["bits_after"])),
        (tr("Compression ratio (vs fp32 unpruned)"), f"{model['compression_ratio']:.2f} ×"),
        (tr("BOPs"), before_after(model["bops_before"], model["bops_after"])),
    ]


def _pruning(stats: dict) -> Section | None:
    layers = (stats.get("pruning") or {}).get("layers")
    if not layers:
        return None
    several = int((stats.get("model") or {}).get("networks", 1)) > 1
    return tr("Filters per layer, all networks (before → after)") if several else tr(
        "Filters per layer (before → after)"), [
        (layer["name"], f"{layer['filters_before']} → {layer['filters_after']}") for layer in layers]


def _training(stats: dict) -> Section | None:
    training = stats.get("training")
    if not training:
        return None
    labels = training.get("pseudo_labels", {})
    rows = [(tr("Seconds"), f"{training['seconds']:.1f}"), (tr("Epochs"), str(training["epochs"]))]
    if "peak_bytes" in training:
        peak, fp32 = training["peak_bytes"], training.get("fp32_equivalent_peak_bytes")
        rows.append((tr("Peak memory"), mebibytes(peak)))
        if fp32:
            rows.append((tr("Peak memory, fp32 equivalent"), f"{mebibytes(fp32)} ({fp32 / max(peak, 1):.1f} ×)"))
    for key, label in (("changed", tr("Pseudo-labels changed")), ("unchanged", tr("Pseudo-labels unchanged")),
                       ("analyst", tr("Analyst samples (pixels)"))):
        if key in labels:
            rows.append((label, f"{labels[key]:,}"))
    if training.get("loss"):
        rows.append((tr("Loss, first → last epoch"), f"{training['loss'][0]:.4f} → {training['loss'][-1]:.4f}"))
    if "optimiser" in training:
        rows.append((tr("Optimiser"), str(training["optimiser"])))
    if training.get("integer_kernels"):
        kernels = {"compiled": tr("compiled (fused passes)"), "torch": tr("torch ops (kernels not built)")}
        rows.append((tr("Integer kernels"), kernels[training["integer_kernels"]]))
    if "initial_weights" in stats:
        rows.append((tr("Initial weights"), str(stats["initial_weights"])))
    return tr("Training"), rows


def _timing(stats: dict) -> Section:
    timing = stats.get("timing", {})
    return tr("Seconds per phase"), [(tr(PHASES.get(phase, phase)), f"{seconds:.2f}")
                                     for phase, seconds in timing.items()]


def _run(stats: dict) -> Section:
    rows = [(tr("Mode"), str(stats["mode"])), (tr("Detector"), str(stats.get("detector", ""))),
            (tr("Seed"), str(stats["seed"])), (tr("Device"), str(stats.get("device", "")))]
    shift = stats.get("coregistration")
    if shift is not None:   # a shifted T2 changes every edge of the map: the analyst should know
        found = tr("T2 read {rows:+d} row(s), {cols:+d} column(s) on (information ×{gain:.2f})").format(
            rows=shift["rows"], cols=shift["cols"], gain=shift["gain"])
        if shift.get("edge"):   # stats of release 0.11.9 on
            found += tr("; as far as the search goes: the images may lie further apart")
        rows.append((tr("Co-registration"), found if shift["rows"] or shift["cols"] else tr("no shift found")))
    direct = stats.get("direct_comparison")
    if direct is not None:   # whether the two images were also compared value against value
        rows.append((tr("Direct comparison"), _direct(direct)))
    if stats.get("prior_one_sided") is not None:   # which structural prior made the map (stages.prior._mapped_prior)
        rows.append((tr("Change seen"), tr("from either image alone too (one-sided change counted)")
                     if stats["prior_one_sided"] else tr("from both images")))
    white = stats.get("white_places")
    if white:   # places that may be cloud (core/raster/cloud_mask.py; stats.json since release 0.18.0)
        # with an AOI counted within it since release 0.19.3 (on the ground around it before)
        rows.append((tr("White places"), _white(white, bool(stats.get("parameters", {}).get("aoi")))))
    confirmation = stats.get("network_confirmation")
    if confirmation is not None:   # whether the map is the prior's confirmed by the network, or the prior's
        rows.append((tr("Network confirmation"), _confirmation(confirmation)))
    return tr("Run"), rows


def _white(white: dict, aoi: bool) -> str:
    """Each optical image's places white in every band (of the overlap, or of the AOI), and what the run made of
    them."""
    where = tr("of the area of interest") if aoi else tr("of the overlap")
    said = "; ".join(tr("{label}: {white:.1f} % {where}, {marked:.0f} % of the prior's marked change").format(
        label=label, white=100 * white[label]["white"], where=where, marked=100 * white[label]["marked_on_white"])
        for label in ("T1", "T2") if label in white)
    if white.get("masked"):
        return said + tr(" (left out as cloud: MASK_CLOUDS)")
    if white.get("noted"):
        return said + tr(" (possibly cloud: see the log; MASK_CLOUDS leaves such places out)")
    return said


def _confirmation(confirmation: dict) -> str:
    said = _veto(confirmation)
    if confirmation.get("near_line"):   # a share decided the map by a hair (decision.confirmation)
        said += tr(" (near the line: another seed may map it the other way)")
    return said


def _veto(confirmation: dict) -> str:
    share, least = 100 * confirmation["vetoed_share"], 100 * confirmation["least_share"]
    if confirmation.get("extended"):
        return tr("finding more like the changed samples: the network adds {added} pixel(s) the prior leaves under "
                  "its cut and vetoes {share:.1f} % of the prior's change").format(
            added=confirmation["added_pixels"], share=share)
    if confirmation["applied"]:
        said = tr("applied: the network vetoes {share:.1f} % of the prior's change (at least {least:g} %)").format(
            share=share, least=least)
        if confirmation.get("regions_removed_whole"):   # before 0.13.0: none
            said += tr(", and removes whole the {regions} region(s) it confirms in under half their pixels").format(
                regions=confirmation["regions_removed_whole"])
        return said
    learnt, least_learnt = confirmation.get("changed_label_pixels"), confirmation.get("least_changed_label_pixels")
    if learnt is not None and least_learnt is not None and learnt < least_learnt and share >= least:
        return tr("not applied: the network vetoes {share:.1f} % of the prior's change, but learnt change from only "
                  "{pixels} pixel(s) (under {least_pixels}), so the map is the prior's").format(
            share=share, pixels=learnt, least_pixels=least_learnt)
    whole, most = confirmation.get("whole_region_share"), confirmation.get("most_whole_region_share")
    if whole is not None and most is not None and whole >= most and share >= least:   # before 0.11.10: none
        return tr("not applied: the network vetoes {share:.1f} % of the prior's change, but {whole:.0f} % of that "
                  "lies in regions it rejects whole (at least {most:g} %), a kind of change it did not learn, so the "
                  "map is the prior's").format(share=share, whole=100 * whole, most=100 * most)
    return tr("not applied: the network vetoes only {share:.1f} % of the prior's change (under {least:g} %), "
              "so the map is the prior's").format(share=share, least=least)


def _direct(direct: dict) -> str:
    if direct["agreement"] is None:
        return {"shared": tr("not used: the images' bands share fewer than two combinations where nothing changed"),
                "values": tr("not used: values that are neither intensities nor decibels"),
                "labels": tr("not used: too few confident places to test it on"),
                "no change": tr("not tried: no significant change")}.get(
            direct.get("refusal"), tr("not used: the images cannot be compared value against value"))
    verdict = tr("used") if direct["used"] else tr("not used")
    measure = measure_label(direct.get("measure") or "log_ratio")   # before 0.8.0 only the log-ratio was tried
    said = tr("{verdict}: the {measure} agrees with the prior at AUC {agreement:.3f} (at least {least:g})").format(
        verdict=verdict, measure=measure, agreement=direct["agreement"], least=direct["least_agreement"])
    if direct.get("near_line"):   # the agreement decided by under 0.015: another seed may not
        said += tr(" (near the line: another seed may map it the other way)")
    return said


def stats_sections(stats: dict) -> list[Section]:
    """Sections in reading order: the answer first, then how good it is, then what it cost."""
    sections = [_result(stats), _accuracy(stats), _model(stats), _pruning(stats), _training(stats),
                _timing(stats), _run(stats)]
    return [section for section in sections if section is not None]
