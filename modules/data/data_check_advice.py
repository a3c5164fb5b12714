"""What the data check's counts (data_check.py) mean for the next run, in the nodes' own terms.

Each recommendation names the setting to change (class weights, `max_length`, head+tail,
windows, a stratified split, cleaning the data) and the number that calls for it; the
thresholds below are where a change starts to pay.
"""

from __future__ import annotations

import json
from ..node_names import NODE_NAMES, SPLIT_NODE, TOKENIZER_NODE

IMBALANCE_FOR_WEIGHTS = 2.0  # largest class / smallest class from which class weights help
CUT_SHARE_FOR_ADVICE = 0.05  # share of texts cut by max_length from which reading long texts matters
CE_NODE, BCE_NODE = NODE_NAMES["PtnCrossEntropyLoss"], NODE_NAMES["PtnBCEWithLogitsLoss"]


def _advice(code: str, text: str) -> dict:
    return {"code": code, "advice": text}


def _class_weights(train: dict) -> list[dict]:
    ratio = train["imbalance_ratio"]
    if train["scores"] or ratio < IMBALANCE_FOR_WEIGHTS:
        return []
    counts = train["class_counts"]
    rare = min(counts, key=counts.get)
    if train["multi_label"]:
        how = f"auto_pos_weight on {BCE_NODE}"
    elif len(counts) == 2:
        how = f"class_weights auto on {CE_NODE} (auto_pos_weight on {BCE_NODE} for a one-output model)"
    else:
        how = f"class_weights auto on {CE_NODE}"
    return [_advice("class_weights", f"class weights on: the largest class has {ratio:.1f}x the rows of the "
                                     f"smallest ('{rare}', {counts[rare]} rows); set {how}")]


def _max_length(tokens: dict) -> list[dict]:
    share, max_length, covers = tokens["cut_share"], tokens["max_length"], tokens["covers_95"]
    limit = tokens["model_max_length"]
    if covers <= max_length:
        return []
    if limit is None or covers <= limit:
        return [_advice("max_length", f"max_length {covers} covers 95% of the texts whole (max_length "
                                      f"{max_length} cuts {share:.0%}); set it on {TOKENIZER_NODE}")]
    if max_length < limit:
        return [_advice("max_length", f"max_length {limit} (the model's maximum) cuts "
                                      f"{tokens['cut_share_at_model_max']:.0%} of the texts instead of {share:.0%}; "
                                      f"95% would need {covers} tokens, more than the model reads, so long texts "
                                      "also need head+tail or windows")]
    return []


def _long_texts(tokens: dict, mode: str) -> list[dict]:
    if tokens["cut_share"] < CUT_SHARE_FOR_ADVICE:
        return []
    share = tokens["cut_share"]
    advice = _max_length(tokens)
    if mode != "head+tail":
        keeps = tokens["head_tail_keeps"]
        advice.append(_advice("head_tail", f"truncation_mode head+tail on {TOKENIZER_NODE}: {share:.0%} of the "
                                           f"texts are cut, and head+tail keeps their first {keeps['head_tokens']} "
                                           f"and last {keeps['tail_tokens']} tokens (reviews end with their "
                                           "verdict) instead of only the first"))
    windows = tokens["windows"]
    advice.append(_advice("windows", f"window {windows['window']} on {TOKENIZER_NODE} reads "
                                     f"{windows['token_share_read']:.0%} of every token as "
                                     f"{windows['windows_per_text']:.2f} windows per text ({windows['windows']} "
                                     "rows to train on), if the cut texts' middles matter"))
    return advice


def _cleaning(report: dict, role: str) -> list[dict]:
    split, advice = report[role], []
    if split["empty_texts"]:
        advice.append(_advice("empty_texts", f"remove the {split['empty_texts']} empty texts of the {role} split "
                                             "(the dataset node refuses them)"))
    duplicates = split["duplicate_texts_normalised"]
    if duplicates:
        conflicts = split["texts_with_conflicting_labels"]
        labelled = f"; {conflicts} of the repeated texts carry differing labels" if conflicts else ""
        advice.append(_advice("duplicates", f"drop the {duplicates} repeated texts of the {role} split "
                                            f"({split['duplicate_texts']} exact copies){labelled}"))
    return advice


def _splits(report: dict) -> list[dict]:
    overlap = report.get("overlap")
    if overlap is None:
        return [_advice("stratified_split", f"no validation split given: make one with {SPLIT_NODE}, stratify on, "
                                            "so every class keeps its share in both parts")]
    advice = []
    if overlap["shared_texts_normalised"]:
        advice.append(_advice("leaks", f"remove the {overlap['shared_texts_normalised']} validation texts that are "
                                       f"also training texts ({overlap['shared_texts']} exactly, the rest after "
                                       "ignoring case and spaces): they inflate the validation metrics"))
    lonely = overlap["labels_only_in_train"] + overlap["labels_only_in_validation"]
    if lonely:
        advice.append(_advice("stratified_split", f"labels {lonely[:10]} are in one split only: split one dataset "
                                                  f"with {SPLIT_NODE}, stratify on, so both parts hold every label"))
    return advice


def recommendations(report: dict) -> list[dict]:
    """The changes the counts call for, most consequential first."""
    advice = _splits(report) + _cleaning(report, "train")
    if "validation" in report:
        advice += _cleaning(report, "validation")
    advice += _class_weights(report["train"])
    advice += _long_texts(report["train"]["tokens"], report["encoder"]["truncation_mode"])
    return advice


def _split_lines(role: str, split: dict) -> list[str]:
    lines = [f"{role}: {split['description']}, {split['rows']} rows"]
    if split["scores"]:
        lines.append("  labels: scores (regression), no classes to count")
    else:
        counts = ", ".join(f"{k} {v}" for k, v in list(split["class_counts"].items())[:20])
        lines.append(f"  rows per class: {counts}; imbalance ratio {split['imbalance_ratio']:.2f}")
    tokens = split["tokens"]
    shown = ", ".join(f"p{k} {v}" for k, v in tokens["percentiles"].items())
    lines.append(f"  tokens per text: {shown}, max {tokens['max']}, mean {tokens['mean']:.0f}")
    lines.append(f"  max_length {tokens['max_length']} cuts {tokens['cut_rows']} texts ({tokens['cut_share']:.1%}), "
                 f"keeping {tokens['kept_token_share_of_cut_texts']:.0%} of their tokens; "
                 f"{tokens['covers_95']} tokens keep 95% whole")
    lines.append(f"  empty texts {split['empty_texts']}, repeated texts {split['duplicate_texts']} exact / "
                 f"{split['duplicate_texts_normalised']} ignoring case and spaces, "
                 f"{split['texts_with_conflicting_labels']} with differing labels")
    return lines


def report_text(report: dict) -> str:
    """The report a user reads on the node: the counts, then the recommendations."""
    lines = _split_lines("train", report["train"])
    if "validation" in report:
        lines += _split_lines("validation", report["validation"])
        overlap = report["overlap"]
        lines.append(f"in both splits: {overlap['shared_texts']} texts exactly, {overlap['shared_texts_normalised']} "
                     "ignoring case and spaces")
        lines.append(f"labels only in train: {overlap['labels_only_in_train'][:10]}, only in validation: "
                     f"{overlap['labels_only_in_validation'][:10]}")
    advice = report.get("recommendations", [])
    lines.append("recommendations:" if advice else "recommendations: none, the data looks ready")
    lines += [f"- {row['advice']}" for row in advice]
    return "\n".join(lines)


def report_json(report: dict) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False)
