#!/bin/bash
# Regenerates the README's PathNet-vs-anchor and cross-corpus tables and the
# learning-curve PNGs from finished runs under runs/ (the run commands are in
# the README; a run that is absent is left out of its row, a row with no run
# is skipped). Usage: bash experiments/readme_tables.sh
cd "$(dirname "$0")/.."
A=runs/anchor
# files: comma list of runs/<prefix>_s<seed>/results.json that exist
seeds() { local p=$1; shift; local out=""; for s in "$@"; do [ -f runs/${p}_s$s/results.json ] && out="$out,runs/${p}_s$s/results.json"; done; echo "${out#,}"; }
files() { local out=""; for f in "$@"; do [ -f "$f" ] && out="$out,$f"; done; echo "${out#,}"; }
# row LABEL FILES: a --row flag, or nothing when FILES is empty
row() { [ -n "$2" ] && printf -- '--row=%s|%s\n' "$1" "$2"; }
# tbl ANCHOR LABEL ROWS...: experiments.table (ROWS: newline-separated --row flags);
# tbl_seeds: the same with each fold averaged over seeds first (LOSO)
tbl() { local anchor=$1 label=$2; shift 2; local rows=(); while IFS= read -r r; do [ -n "$r" ] && rows+=("$r"); done < <(printf '%s\n' "$@"); python -m experiments.table --anchor="$anchor" --anchor_label="$label" ${TABLE_FLAGS:-} "${rows[@]}"; }
tbl_seeds() { TABLE_FLAGS=--average_seeds tbl "$@"; }
anchor_rows() {  # corpus protocol: trivial and openSMILE rows, both norms
  local c=$1 p=$2
  row "trivial: log-mel mean/std → logistic regression" "$(files $A/${c}_logmel_stats_${p}_nospeaker_norm.json)"
  row "eGeMAPS + SVM" "$(files $A/${c}_eGeMAPSv02_${p}_nospeaker_norm.json)"
  row "eGeMAPS + SVM + speaker norm (transductive)" "$(files $A/${c}_eGeMAPSv02_${p}_speaker_norm.json)"
  row "ComParE + SVM + speaker norm (transductive)" "$(files $A/${c}_ComParE_2016_${p}_speaker_norm.json)"
}

echo "#### EMO-DB, random 5-fold (utterance-grouped)"
tbl $A/emodb_ComParE_2016_random_kfold_nospeaker_norm.json 'ComParE+SVM' \
 "$(row '`paper`' "$(files runs/paper_random/results.json)")" \
 "$(row '`improved`' "$(seeds improved_random 0 1 2)")" \
 "$(row '`improved_speaker` (transductive)' "$(seeds improved_spk_random 0 1 2)")" \
 "$(row '`improved_speaker_e20` (transductive)' "$(seeds e20_random 0 1 2)")" \
 "$(row 'CNN from scratch (10 epochs)' "$(seeds a_emo_cnn 0 1 2)")" \
 "$(anchor_rows emodb random_kfold)"
echo; echo "#### EMO-DB, leave-one-speaker-out (10 folds)"
tbl_seeds $A/emodb_ComParE_2016_speaker_kfold_nospeaker_norm.json 'ComParE+SVM' \
 "$(row '`paper`' "$(seeds paper_loso 0 1 2)")" \
 "$(row '`improved`' "$(seeds improved_loso 0 1 2)")" \
 "$(row '`improved_speaker` (transductive)' "$(seeds improved_spk_loso 0 1 2)")" \
 "$(row '`improved_speaker_e20` (transductive)' "$(seeds e20_loso 0 1 2)")" \
 "$(row '`improved_speaker`, ensemble of 5 (not chosen; transductive)' "$(seeds spk_ens5_loso 0 1 2)")" \
 "$(row 'CNN from scratch (10 epochs)' "$(seeds emo_cnn_loso 0 1 2)")" \
 "$(anchor_rows emodb speaker_kfold)"
echo; echo "#### RAVDESS (actors 01–12), random 5-fold"
tbl $A/ravdess_ComParE_2016_random_kfold_nospeaker_norm.json 'ComParE+SVM' \
 "$(row '`paper`' "$(seeds rav_paper_random 0 1 2)")" \
 "$(row '`improved`' "$(seeds rav_improved_random 0 1 2)")" \
 "$(row '`improved_speaker` (transductive)' "$(seeds rav_improved_spk_random 0 1 2)")" \
 "$(row '`improved_speaker_e20` (transductive)' "$(seeds rav_e20_random 0 1 2)")" \
 "$(row 'CNN from scratch (10 epochs)' "$(seeds rav_cnn_random 0)")" \
 "$(anchor_rows ravdess random_kfold)"
echo; echo "#### RAVDESS, leave-one-speaker-out (12 folds)"
tbl_seeds $A/ravdess_ComParE_2016_speaker_kfold_nospeaker_norm.json 'ComParE+SVM' \
 "$(row '`paper`' "$(seeds rav_paper_loso 0 1 2)")" \
 "$(row '`improved`' "$(seeds rav_improved_loso 0 1 2)")" \
 "$(row '`improved_speaker` (transductive)' "$(seeds rav_improved_spk_loso 0 1 2)")" \
 "$(row '`improved_speaker_e20` (transductive)' "$(seeds rav_e20_loso 0 1 2)")" \
 "$(row '`improved_speaker`, ensemble of 5 (not chosen; transductive)' "$(seeds rav_spk_ens5_loso 0 1 2)")" \
 "$(row 'CNN from scratch (10 epochs)' "$(seeds rav_cnn_loso 0)")" \
 "$(anchor_rows ravdess speaker_kfold)"

echo; echo "#### Cross-corpus RAVDESS → EMO-DB, EMO-DB random 5-fold: transfer against scratch"
tbl "$(seeds improved_random 0 1 2)" '`improved` scratch' \
 "$(row '`improved` transfer RAVDESS → EMO-DB' "$(seeds a_rav_emo_improved 0 1 2)")"
echo; echo "#### Cross-corpus RAVDESS → EMO-DB, EMO-DB random 5-fold: against the fine-tuned CNN"
tbl "$(seeds a_rav_emo_ft 0 1 2)" 'fine-tuned CNN' \
 "$(row '`improved` transfer RAVDESS → EMO-DB' "$(seeds a_rav_emo_improved 0 1 2)")" \
 "$(row '`improved` scratch' "$(seeds improved_random 0 1 2)")" \
 "$(row '`paper` transfer RAVDESS → EMO-DB' "$(seeds a_rav_emo_paper 0 1 2)")" \
 "$(row '`paper` scratch' "$(files runs/paper_random/results.json)")" \
 "$(row 'CNN pre-trained on RAVDESS (10 epochs), fine-tuned (10)' "$(seeds a_rav_emo_ft 0 1 2)")" \
 "$(row 'CNN from scratch (10 epochs)' "$(seeds a_emo_cnn 0 1 2)")"
echo; echo "#### Cross-corpus RAVDESS → EMO-DB on the classes both corpora share (EMO-DB random 5-fold)"
tbl "$(seeds improved_shared_scratch 0 1 2)" '`improved` scratch, shared classes' \
 "$(row '`improved` transfer RAVDESS → EMO-DB, shared classes' "$(seeds a_rav_emo_improved_shared 0 1 2)")"
echo; echo "#### Cross-corpus RAVDESS → EMO-DB, EMO-DB leave-one-speaker-out: transfer against scratch"
tbl_seeds "$(seeds improved_loso 0 1 2)" '`improved` scratch' \
 "$(row '`improved` transfer RAVDESS → EMO-DB' "$(seeds a_rav_emo_improved_loso 0 1 2)")" \
 "$(row '`improved_speaker` scratch (transductive)' "$(seeds improved_spk_loso 0 1 2)")"
echo; echo "#### Cross-corpus EMO-DB → RAVDESS, RAVDESS random 5-fold: transfer against scratch"
tbl "$(seeds rav_improved_random 0 1 2)" '`improved` scratch' \
 "$(row '`improved` transfer EMO-DB → RAVDESS' "$(seeds a_emo_rav_improved 0 1 2)")" \
 "$(row 'CNN from scratch (10 epochs)' "$(seeds rav_cnn_random 0)")"
echo; echo "#### Multi-source: RAVDESS + EMO-DB ♀ → EMO-DB ♂, random 5-fold on the male speakers, against scratch"
tbl "$(seeds ms_emom 0 1 2)" '`improved` scratch (♂ only)' \
 "$(row '`improved` RAVDESS + EMO-DB ♀ pooled → ♂' "$(seeds ms_rav_emof_emom 0 1 2)")" \
 "$(row '`improved` RAVDESS → ♂' "$(seeds ms_rav_emom 0 1 2)")" \
 "$(row '`improved` EMO-DB ♀ → ♂' "$(seeds ms_emof_emom 0 1 2)")"

mkdir -p docs
# lc1 LC FULL: seed 1's full-data run, only once seed 1's curve runs exist
lc1() { [ -f runs/${1}_s1_f0.1/results.json ] && echo runs/${2}_s1/results.json; }
echo; echo "#### Learning curve RAVDESS → EMO-DB (random 5-fold)"
python -m experiments.curves --out=docs/curve_ravdess_to_emodb.png --baseline='`improved` scratch' \
 --title='RAVDESS → EMO-DB: EMO-DB utterance UA, random 5-fold' \
 --line="\`improved\` transfer|$(files runs/lc_rav_emo_tr_f{0.1,0.25,0.5}/results.json runs/a_rav_emo_improved_s0/results.json runs/lc_rav_emo_tr_s1_f{0.1,0.25,0.5}/results.json $(lc1 lc_rav_emo_tr a_rav_emo_improved))" \
 --line="\`improved\` scratch|$(files runs/lc_emo_scratch_f{0.1,0.25,0.5}/results.json runs/improved_random_s0/results.json runs/lc_emo_scratch_s1_f{0.1,0.25,0.5}/results.json $(lc1 lc_emo_scratch improved_random))" \
 --line="fine-tuned CNN (pre-trained on RAVDESS)|$(files runs/lc_rav_emo_ft_f{0.1,0.25,0.5}/results.json runs/a_rav_emo_ft_s0/results.json)"
echo; echo "#### Learning curve EMO-DB → RAVDESS (random 5-fold)"
python -m experiments.curves --out=docs/curve_emodb_to_ravdess.png --baseline='`improved` scratch' \
 --title='EMO-DB → RAVDESS: RAVDESS utterance UA, random 5-fold' \
 --line="\`improved\` transfer|$(files runs/lc_emo_rav_tr_f{0.1,0.25,0.5}/results.json runs/a_emo_rav_improved_s0/results.json runs/lc_emo_rav_tr_s1_f{0.1,0.25,0.5}/results.json $(lc1 lc_emo_rav_tr a_emo_rav_improved))" \
 --line="\`improved\` scratch|$(files runs/lc_rav_scratch_f{0.1,0.25,0.5}/results.json runs/rav_improved_random_s0/results.json runs/lc_rav_scratch_s1_f{0.1,0.25,0.5}/results.json $(lc1 lc_rav_scratch rav_improved_random))"
