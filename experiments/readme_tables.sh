#!/bin/bash
# Rewrites the tables of docs/results.md that come from finished runs under
# runs/, and the learning-curve PNGs beside it. Each block goes between its
# marker comments in docs/results.md, and nothing outside them changes:
#   <!-- BEGIN readme_tables.sh NAME --> ... <!-- END readme_tables.sh NAME -->
#   NAME: cross_corpus (RAVDESS ⇄ EMO-DB transfer), curves (learning curves and
#   docs/curve_*.png), anchor (PathNet and the CNN against the openSMILE anchor),
#   issue20 (the variant chosen on training speakers, its transfer rows),
#   issue26 (improved_heldout, fitness on held-out training speakers),
#   issue35 (improved_svm, the search given a linear SVM head, on the four
#   cells), issue33 (PathNet against its level-field controls, the anchor at
#   every label fraction, learning speed; docs/speed_issue33_*.png).
# The run commands are beside the blocks in docs/results.md. A run that is
# absent is left out of its row, a row with no run is skipped, a table with no
# row is left out, a table whose anchor is absent has no comparison columns,
# and a block with no finished run at all is left as it is. A block is rebuilt
# from the runs present only, so run this where all of a block's runs are.
# Refuses, with one error line, exit code 1 and nothing written, when the runs
# folder is missing, a marker pair is missing or a table fails to build.
#   bash experiments/readme_tables.sh
#   RUNS=/elsewhere/runs RESULTS_MD=/tmp/results.md bash experiments/readme_tables.sh
#   BLOCKS=issue20 bash experiments/readme_tables.sh   # that block only
# RUNS: the runs folder (default runs/); RESULTS_MD: the file to rewrite
# (default docs/results.md); the PNGs go to RESULTS_MD's folder; BLOCKS: the
# blocks to rewrite (default all), the others are left as they are.
set -u
cd "$(dirname "$0")/.."
RUNS=${RUNS:-runs}
RESULTS_MD=${RESULTS_MD:-docs/results.md}
ALL_BLOCKS="cross_corpus curves anchor issue20 issue26 issue35 issue33"
BLOCKS=${BLOCKS:-$ALL_BLOCKS}
for b in $BLOCKS; do
  case " $ALL_BLOCKS " in *" $b "*) ;; *) echo "error: unknown block '$b' in BLOCKS (blocks: $ALL_BLOCKS)" >&2; exit 1;; esac
done
die() { echo "error: $*" >&2; exit 1; }
wanted() { case " $BLOCKS " in *" $1 "*) return 0;; esac; return 1; }  # only named blocks are computed
[ -d "$RUNS" ] || die "no runs folder '$RUNS' (set RUNS=DIR): refusing to overwrite $RESULTS_MD with empty tables"
[ -f "$RESULTS_MD" ] || die "$RESULTS_MD not found"
for b in $BLOCKS; do
  [ "$(grep -cxF "<!-- BEGIN readme_tables.sh $b -->" "$RESULTS_MD")" = 1 ] \
    && [ "$(grep -cxF "<!-- END readme_tables.sh $b -->" "$RESULTS_MD")" = 1 ] \
    || die "$RESULTS_MD needs exactly one '<!-- BEGIN readme_tables.sh $b -->' ... '<!-- END readme_tables.sh $b -->' pair"
done
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

A=$RUNS/anchor
# files: comma list of $RUNS/<prefix>_s<seed>/results.json that exist
seeds() { local p=$1; shift; local out=""; for s in "$@"; do [ -f $RUNS/${p}_s$s/results.json ] && out="$out,$RUNS/${p}_s$s/results.json"; done; echo "${out#,}"; }
files() { local out=""; for f in "$@"; do [ -f "$f" ] && out="$out,$f"; done; echo "${out#,}"; }
# seed_note PREFIX SEEDS...: "seed 0" or "seeds 0, 1" for the runs that exist
seed_note() { local p=$1 s found=(); shift; for s in "$@"; do [ -f $RUNS/${p}_s$s/results.json ] && found+=("$s"); done
  if [ ${#found[@]} = 1 ]; then echo "seed ${found[0]}"; else local j; j=$(printf '%s, ' "${found[@]}"); echo "seeds ${j%, }"; fi; }
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
# section HEADING CMD...: HEADING, a blank line and CMD's tables, when they have a row
section() {
  local heading=$1 out; shift
  out=$("$@") || { echo "error: the table under '$heading' failed to build" >&2; touch "$TMP/failed"; return 0; }
  printf '%s\n' "$out" | grep -v '^| method' | grep -q '^| ' || return 0
  printf '%s\n\n%s\n\n' "$heading" "$out"
}
# curve PNG TITLE BASELINE 'LABEL|FILES'...: experiments.curves on the lines that have runs
curve() {
  local png=$1 title=$2 baseline=$3 spec has_base=0 args=(); shift 3
  for spec in "$@"; do
    [ -n "${spec#*|}" ] || continue
    args+=("--line=$spec"); [ "${spec%%|*}" = "$baseline" ] && has_base=1
  done
  [ ${#args[@]} -gt 0 ] || return 0
  [ $has_base = 1 ] && args+=("--baseline=$baseline")
  python -m experiments.curves --out="$TMP/$png" --title="$title" "${args[@]}"
}
# seed_dirs WORKDIR...: the seed_<s>/results.json of --config.seeds runs that exist
seed_dirs() { local w args=(); for w in "$@"; do args+=($RUNS/$w/seed_{0,1,2}/results.json); done; files "${args[@]}"; }
# lc1 LC FULL: seed 1's full-data run, only once seed 1's curve runs exist
lc1() { [ -f $RUNS/${1}_s1_f0.1/results.json ] && echo $RUNS/${2}_s1/results.json; }

wanted cross_corpus && {
section '**RAVDESS → EMO-DB, EMO-DB random 5-fold: transfer against scratch**' \
 tbl "$(seeds improved_random 0 1 2)" '`improved` scratch' \
 "$(row '`improved` transfer RAVDESS → EMO-DB' "$(seeds a_rav_emo_improved 0 1 2)")"
section "**RAVDESS → EMO-DB, EMO-DB random 5-fold: every method against the paper's baseline shape (the CNN pre-trained on RAVDESS, fine-tuned on EMO-DB)**" \
 tbl "$(seeds a_rav_emo_ft 0 1 2)" 'fine-tuned CNN' \
 "$(row '`improved` transfer RAVDESS → EMO-DB' "$(seeds a_rav_emo_improved 0 1 2)")" \
 "$(row '`improved` scratch' "$(seeds improved_random 0 1 2)")" \
 "$(row '`paper` transfer RAVDESS → EMO-DB' "$(seeds a_rav_emo_paper 0 1 2)")" \
 "$(row '`paper` scratch' "$(files $RUNS/paper_random/results.json)")" \
 "$(row 'CNN pre-trained on RAVDESS (10 epochs), fine-tuned (10)' "$(seeds a_rav_emo_ft 0 1 2)")" \
 "$(row 'CNN from scratch (10 epochs)' "$(seeds a_emo_cnn 0 1 2)")"
section '**RAVDESS → EMO-DB, EMO-DB leave-one-speaker-out (10 folds)**' \
 tbl_seeds "$(seeds improved_loso 0 1 2)" '`improved` scratch' \
 "$(row '`improved` transfer RAVDESS → EMO-DB' "$(seeds a_rav_emo_improved_loso 0 1 2)")" \
 "$(row '`improved_speaker` scratch (transductive)' "$(seeds improved_spk_loso 0 1 2)")"
section "**RAVDESS → EMO-DB on the six classes both corpora have** (neutral, anger, disgust, fear,
happiness, sadness: 454 EMO-DB utterances; \`shared_classes_only\`; $(seed_note a_rav_emo_improved_shared 0 1 2))" \
 tbl "$(seeds improved_shared_scratch 0 1 2)" '`improved` scratch, shared classes' \
 "$(row '`improved` transfer RAVDESS → EMO-DB, shared classes' "$(seeds a_rav_emo_improved_shared 0 1 2)")"
section '**EMO-DB → RAVDESS, RAVDESS random 5-fold**' \
 tbl "$(seeds rav_improved_random 0 1 2)" '`improved` scratch' \
 "$(row '`improved` transfer EMO-DB → RAVDESS' "$(seeds a_emo_rav_improved 0 1 2)")" \
 "$(row 'CNN from scratch (10 epochs)' "$(seeds rav_cnn_random 0)")"
section '**Multi-source: RAVDESS + EMO-DB ♀ pooled → EMO-DB ♂** (233 utterances of the 5 male
speakers, random 5-fold), against each single source and scratch on the same folds' \
 tbl "$(seeds ms_emom 0 1 2)" '`improved` scratch (♂ only)' \
 "$(row '`improved` RAVDESS + EMO-DB ♀ pooled → ♂' "$(seeds ms_rav_emof_emom 0 1 2)")" \
 "$(row '`improved` RAVDESS → ♂' "$(seeds ms_rav_emom 0 1 2)")" \
 "$(row '`improved` EMO-DB ♀ → ♂' "$(seeds ms_emof_emom 0 1 2)")"
} > "$TMP/cross_corpus.md"

wanted curves && {
section 'RAVDESS → EMO-DB: ![learning curve RAVDESS → EMO-DB](curve_ravdess_to_emodb.png)' \
 curve curve_ravdess_to_emodb.png 'RAVDESS → EMO-DB: EMO-DB utterance UA, random 5-fold' '`improved` scratch' \
 "\`improved\` transfer|$(files $RUNS/lc_rav_emo_tr_f{0.1,0.25,0.5}/results.json $RUNS/a_rav_emo_improved_s0/results.json $RUNS/lc_rav_emo_tr_s1_f{0.1,0.25,0.5}/results.json $(lc1 lc_rav_emo_tr a_rav_emo_improved))" \
 "\`improved\` scratch|$(files $RUNS/lc_emo_scratch_f{0.1,0.25,0.5}/results.json $RUNS/improved_random_s0/results.json $RUNS/lc_emo_scratch_s1_f{0.1,0.25,0.5}/results.json $(lc1 lc_emo_scratch improved_random))" \
 "fine-tuned CNN (pre-trained on RAVDESS)|$(files $RUNS/lc_rav_emo_ft_f{0.1,0.25,0.5}/results.json $RUNS/a_rav_emo_ft_s0/results.json)"
section 'EMO-DB → RAVDESS: ![learning curve EMO-DB → RAVDESS](curve_emodb_to_ravdess.png)' \
 curve curve_emodb_to_ravdess.png 'EMO-DB → RAVDESS: RAVDESS utterance UA, random 5-fold' '`improved` scratch' \
 "\`improved\` transfer|$(files $RUNS/lc_emo_rav_tr_f{0.1,0.25,0.5}/results.json $RUNS/a_emo_rav_improved_s0/results.json $RUNS/lc_emo_rav_tr_s1_f{0.1,0.25,0.5}/results.json $(lc1 lc_emo_rav_tr a_emo_rav_improved))" \
 "\`improved\` scratch|$(files $RUNS/lc_rav_scratch_f{0.1,0.25,0.5}/results.json $RUNS/rav_improved_random_s0/results.json $RUNS/lc_rav_scratch_s1_f{0.1,0.25,0.5}/results.json $(lc1 lc_rav_scratch rav_improved_random))"
} > "$TMP/curves.md"

wanted anchor && {
section '**EMO-DB, random 5-fold (utterance-grouped)**' \
 tbl "$(files $A/emodb_ComParE_2016_random_kfold_nospeaker_norm.json)" 'ComParE+SVM' \
 "$(row '`paper`' "$(files $RUNS/paper_random/results.json)")" \
 "$(row '`improved`' "$(seeds improved_random 0 1 2)")" \
 "$(row '`improved_speaker` (transductive)' "$(seeds improved_spk_random 0 1 2)")" \
 "$(row '`improved_speaker_e20` (transductive)' "$(seeds e20_random 0 1 2)")" \
 "$(row 'CNN from scratch (10 epochs)' "$(seeds a_emo_cnn 0 1 2)")" \
 "$(anchor_rows emodb random_kfold)"
section '**EMO-DB, leave-one-speaker-out (10 folds)**' \
 tbl_seeds "$(files $A/emodb_ComParE_2016_speaker_kfold_nospeaker_norm.json)" 'ComParE+SVM' \
 "$(row '`paper`' "$(seeds paper_loso 0 1 2)")" \
 "$(row '`improved`' "$(seeds improved_loso 0 1 2)")" \
 "$(row '`improved_speaker` (transductive)' "$(seeds improved_spk_loso 0 1 2)")" \
 "$(row '`improved_speaker_e20` (transductive)' "$(seeds e20_loso 0 1 2)")" \
 "$(row '`improved_speaker`, ensemble of 5 (not chosen; transductive)' "$(seeds spk_ens5_loso 0 1 2)")" \
 "$(row 'CNN from scratch (10 epochs)' "$(seeds emo_cnn_loso 0 1 2)")" \
 "$(anchor_rows emodb speaker_kfold)"
section '**RAVDESS (actors 01–12), random 5-fold**' \
 tbl "$(files $A/ravdess_ComParE_2016_random_kfold_nospeaker_norm.json)" 'ComParE+SVM' \
 "$(row '`paper`' "$(seeds rav_paper_random 0 1 2)")" \
 "$(row '`improved`' "$(seeds rav_improved_random 0 1 2)")" \
 "$(row '`improved_speaker` (transductive)' "$(seeds rav_improved_spk_random 0 1 2)")" \
 "$(row '`improved_speaker_e20` (transductive)' "$(seeds rav_e20_random 0 1 2)")" \
 "$(row 'CNN from scratch (10 epochs)' "$(seeds rav_cnn_random 0)")" \
 "$(anchor_rows ravdess random_kfold)"
section '**RAVDESS, leave-one-speaker-out (12 folds)**' \
 tbl_seeds "$(files $A/ravdess_ComParE_2016_speaker_kfold_nospeaker_norm.json)" 'ComParE+SVM' \
 "$(row '`paper`' "$(seeds rav_paper_loso 0 1 2)")" \
 "$(row '`improved`' "$(seeds rav_improved_loso 0 1 2)")" \
 "$(row '`improved_speaker` (transductive)' "$(seeds rav_improved_spk_loso 0 1 2)")" \
 "$(row '`improved_speaker_e20` (transductive)' "$(seeds rav_e20_loso 0 1 2)")" \
 "$(row '`improved_speaker`, ensemble of 5 (not chosen; transductive)' "$(seeds rav_spk_ens5_loso 0 1 2)")" \
 "$(row 'CNN from scratch (10 epochs)' "$(seeds rav_cnn_loso 0)")" \
 "$(anchor_rows ravdess speaker_kfold)"
} > "$TMP/anchor.md"

# Helpers of several blocks (defined whichever blocks are computed).
ic='`improved_compare` (chosen on training speakers; transductive)'
cell() {  # corpus protocol 'workdirs' best_anchor_file best_anchor_label heading table_fn [row label]
  local c=$1 p=$2 w=$3 best=$4 best_label=$5 heading=$6 fn=$7 label=${8:-$ic}
  section "$heading, against ComParE + SVM" \
   $fn "$(files $A/${c}_ComParE_2016_${p}_nospeaker_norm.json)" 'ComParE+SVM' \
   "$(row "$label" "$(seed_dirs $w)")" \
   "$(row "$best_label" "$(files $best)")"
  section "$heading, against $best_label" \
   $fn "$(files $best)" "$best_label" \
   "$(row "$label" "$(seed_dirs $w)")"
}
# transfer_at FRACTION VARIANT SCRATCH_DIR TRANSFER_DIR SOURCE TARGET [CNN_DIR]:
# transfer against scratch with that share of each training fold's labels,
# the CNN pre-trained on SOURCE and fine-tuned beside it, then the transfer
# against that CNN (workdirs of --config.seeds=0,1,2 runs)
transfer_at() {
  local f=$1 v=$2 src=$5 tgt=$6 cnn=${7:-} pct; pct=$(python -c "print(f'{100 * $f:g} %')")
  local heading="**$src → $tgt with \`$v\`, $tgt random 5-fold, $pct of each training fold's utterances**"
  local ft="CNN pre-trained on $src (10 epochs), fine-tuned (10)"
  section "$heading" \
   tbl "$(seed_dirs $3)" "\`$v\` scratch" \
   "$(row "\`$v\` transfer $src → $tgt" "$(seed_dirs $4)")" \
   "$([ -n "$cnn" ] && row "$ft" "$(seed_dirs $cnn)")"
  [ -n "$cnn" ] && [ -n "$(seed_dirs $cnn)" ] && section "$heading, against the fine-tuned CNN" \
   tbl "$(seed_dirs $cnn)" 'fine-tuned CNN' \
   "$(row "\`$v\` transfer $src → $tgt" "$(seed_dirs $4)")" \
   "$(row "\`$v\` scratch" "$(seed_dirs $3)")"
  return 0
}
rav_emo_at() { transfer_at "$1" "$2" "$3" "$4" RAVDESS EMO-DB; }
# lc_dirs PREFIX [FULL]: a learning curve's workdirs, PREFIX_f0.1, PREFIX_f0.25
# and the 100 % one, FULL (default PREFIX_f1.0)
lc_dirs() { seed_dirs ${1}_f0.1 ${1}_f0.25 ${2:-${1}_f1.0}; }

wanted issue20 && {
# Each cell against ComParE + SVM, then against the best speaker-normalised
# anchor of that cell (the issue's bar; chosen by its mean UA).
cell emodb random_kfold ic_emodb_random $A/emodb_eGeMAPSv02_random_kfold_speaker_norm.json \
 'eGeMAPS + SVM + speaker norm (transductive)' '**EMO-DB, random 5-fold**' tbl
cell emodb speaker_kfold 'ic_emodb_loso ic_emodb_loso_s12' $A/emodb_eGeMAPSv02_speaker_kfold_speaker_norm.json \
 'eGeMAPS + SVM + speaker norm (transductive)' '**EMO-DB, leave-one-speaker-out**' tbl_seeds
cell ravdess random_kfold 'ic_ravdess_random ic_ravdess_random_s12' $A/ravdess_ComParE_2016_random_kfold_speaker_norm.json \
 'ComParE + SVM + speaker norm (transductive)' '**RAVDESS, random 5-fold**' tbl
cell ravdess speaker_kfold ic_ravdess_loso $A/ravdess_ComParE_2016_speaker_kfold_speaker_norm.json \
 'ComParE + SVM + speaker norm (transductive)' '**RAVDESS, leave-one-speaker-out**' tbl_seeds
for f in 0.1 0.25 1.0; do
  scratch=ic_emo_scratch_f$f; [ $f = 1.0 ] && scratch=ic_emodb_random
  rav_emo_at $f improved_compare $scratch ic_rav_emo_f$f
done
section 'Learning curves, RAVDESS → EMO-DB with `improved_compare`: ![learning curve, improved_compare](curve_issue20_ravdess_to_emodb.png)' \
 curve curve_issue20_ravdess_to_emodb.png 'RAVDESS → EMO-DB, improved_compare: EMO-DB utterance UA, random 5-fold' '`improved_compare` scratch' \
 "\`improved_compare\` transfer|$(lc_dirs ic_rav_emo ic_rav_emo_f1.0)" \
 "\`improved_compare\` scratch|$(lc_dirs ic_emo_scratch ic_emodb_random)"
} > "$TMP/issue20.md"

wanted issue26 && {
# Issue 26: improved_heldout on the four cells, against ComParE + SVM and the
# best speaker-normalised anchor of issue 27 (ComParE + speaker norm on every
# cell), cell() as above.
ih='`improved_heldout` (held-out speakers as fitness; transductive)'
for c in emodb ravdess; do
  name=$([ $c = emodb ] && echo EMO-DB || echo RAVDESS)
  cell $c random_kfold ih_${c}_random $A/${c}_ComParE_2016_random_kfold_speaker_norm.json \
   'ComParE + SVM + speaker norm (transductive)' "**$name, random 5-fold**" tbl "$ih"
  cell $c speaker_kfold "ih_${c}_loso ih_${c}_loso_s12" $A/${c}_ComParE_2016_speaker_kfold_speaker_norm.json \
   'ComParE + SVM + speaker norm (transductive)' "**$name, leave-one-speaker-out**" tbl_seeds "$ih"
done
for f in 0.1 0.25 1.0; do
  rs=ih_emo_scratch_f$f es=ih_rav_scratch_f$f
  [ $f = 1.0 ] && rs=ih_emodb_random es=ih_ravdess_random
  transfer_at $f improved_heldout $rs ih_rav_emo_f$f RAVDESS EMO-DB ft_rav_emo_f$f
  transfer_at $f improved_heldout $es ih_emo_rav_f$f EMO-DB RAVDESS ft_emo_rav_f$f
done
section 'Learning curves with `improved_heldout`, RAVDESS → EMO-DB: ![learning curve, improved_heldout, RAVDESS → EMO-DB](curve_issue26_ravdess_to_emodb.png)' \
 curve curve_issue26_ravdess_to_emodb.png 'RAVDESS → EMO-DB, improved_heldout: EMO-DB utterance UA, random 5-fold' '`improved_heldout` scratch' \
 "\`improved_heldout\` transfer|$(lc_dirs ih_rav_emo)" \
 "\`improved_heldout\` scratch|$(lc_dirs ih_emo_scratch ih_emodb_random)" \
 "fine-tuned CNN (pre-trained on RAVDESS)|$(lc_dirs ft_rav_emo)"
section 'Learning curves with `improved_heldout`, EMO-DB → RAVDESS: ![learning curve, improved_heldout, EMO-DB → RAVDESS](curve_issue26_emodb_to_ravdess.png)' \
 curve curve_issue26_emodb_to_ravdess.png 'EMO-DB → RAVDESS, improved_heldout: RAVDESS utterance UA, random 5-fold' '`improved_heldout` scratch' \
 "\`improved_heldout\` transfer|$(lc_dirs ih_emo_rav)" \
 "\`improved_heldout\` scratch|$(lc_dirs ih_rav_scratch ih_ravdess_random)" \
 "fine-tuned CNN (pre-trained on EMO-DB)|$(lc_dirs ft_emo_rav)"
} > "$TMP/issue26.md"

wanted issue35 && {
# Issue 35: improved_svm on the four cells against the speaker-normalised
# anchor (ComParE + speaker norm + SVM, C chosen on training speakers).
sv='`improved_svm` (chosen on training speakers; transductive)'
sn='ComParE + SVM + speaker norm (transductive)'
sv9='`improved_svm` + ensemble of the 10 best pathways (`--config.ensemble_size=10`, chosen on EMO-DB training speakers)'
for c in emodb ravdess; do
  name=$([ $c = emodb ] && echo EMO-DB || echo RAVDESS)
  [ -n "$(seed_dirs sv_${c}_random)" ] && section "**$name, random 5-fold**, against $sn" tbl "$(files $A/${c}_ComParE_2016_random_kfold_speaker_norm.json)" "$sn" \
   "$(row "$sv" "$(seed_dirs sv_${c}_random)")" \
   "$(row "$sv9" "$(seed_dirs sv_${c}_random_ens10)")"
  [ -n "$(seed_dirs sv_${c}_loso)" ] && section "**$name, leave-one-speaker-out** (folds averaged over seeds), against $sn" tbl_seeds "$(files $A/${c}_ComParE_2016_speaker_kfold_speaker_norm.json)" "$sn" \
   "$(row "$sv" "$(seed_dirs sv_${c}_loso)")" \
   "$(row "$sv9" "$(seed_dirs sv_${c}_loso_ens10)")"
  # The per-corpus ensemble (chosen on EMO-DB's training speakers) against
  # the single best pathway, paired over the same folds and seeds.
  for p in random loso; do
    fn=tbl; [ $p = loso ] && fn=tbl_seeds
    [ -n "$(seed_dirs sv_${c}_${p}_ens10)" ] && section "**$name, $([ $p = loso ] && echo leave-one-speaker-out || echo random 5-fold): the ensemble of the 10 best pathways against the best pathway alone**" \
     $fn "$(seed_dirs sv_${c}_$p)" "$sv" "$(row "$sv9" "$(seed_dirs sv_${c}_${p}_ens10)")"
  done
done
# The scratch cells' controls (issue 33) beside it, on the same folds.
for c in emodb ravdess; do
  name=$([ $c = emodb ] && echo EMO-DB || echo RAVDESS)
  for p in random loso; do
    fn=tbl; [ $p = loso ] && fn=tbl_seeds
    [ -n "$(seed_dirs sv_${c}_${p}_independent sv_${c}_${p}_fixed)" ] && section "**$name, $([ $p = loso ] && echo leave-one-speaker-out || echo random 5-fold): PathNet against its controls (same view, rows, steps)**" \
     $fn "$(seed_dirs sv_${c}_$p)" '`improved_svm` (PathNet)' \
     "$(row 'independent control: every module active, from scratch' "$(seed_dirs sv_${c}_${p}_independent)")" \
     "$(row 'fixed random pathway, no selection' "$(seed_dirs sv_${c}_${p}_fixed)")"
  done
done
} > "$TMP/issue35.md"

wanted issue33 && {
# Issue 33: per direction and share of the target's training labels, PathNet
# transfer against scratch, the three controls and the anchor (the rows minus
# transfer), evolution against the independent control, and learning speed.
# Workdirs: l33_<src>_<tgt>_<method>_f<f> (seeds 0, 1, 2 with --config.seeds);
# anchors: $A/<tgt>_ComParE_2016_random_kfold_speaker_norm_f<f>.json.
l33() {  # SRC TGT SRC_NAME TGT_NAME TGT_CORPUS
  local s=$1 t=$2 sn=$3 tn=$4 tc=$5 f pct w
  for f in 0.1 0.25 1.0; do
    w=l33_${s}_${t}; pct=$(python -c "print(f'{100 * $f:g} %')")
    [ -n "$(seed_dirs ${w}_transfer_f$f)" ] && section "**$sn → $tn, $tn random 5-fold, $pct of each training fold's utterances: each method against PathNet transfer**" \
     tbl "$(seed_dirs ${w}_transfer_f$f)" 'PathNet transfer' \
     "$(row 'PathNet scratch' "$(seed_dirs ${w}_scratch_f$f)")" \
     "$(row 'independent control (every module, from scratch)' "$(seed_dirs ${w}_independent_f$f)")" \
     "$(row 'fine-tuning control (every module, source then target)' "$(seed_dirs ${w}_finetune_f$f)")" \
     "$(row 'fixed random pathway (scratch, no selection)' "$(seed_dirs ${w}_fixed_f$f)")" \
     "$(row 'ComParE + SVM + speaker norm, same rows (transductive)' "$(files $A/${tc}_ComParE_2016_random_kfold_speaker_norm_f$f.json)")"
    [ -n "$(seed_dirs ${w}_independent_f$f)" ] && section "**$sn → $tn, $pct: does evolution beat the independent control at equal steps?**" \
     tbl "$(seed_dirs ${w}_independent_f$f)" 'independent control' \
     "$(row 'PathNet scratch' "$(seed_dirs ${w}_scratch_f$f)")" \
     "$(row 'fixed random pathway' "$(seed_dirs ${w}_fixed_f$f)")"
    local sargs=() label dir
    for label in 'PathNet transfer:transfer' 'independent control:independent' \
                 'PathNet scratch:scratch' 'fine-tuning control:finetune'; do
      dir=$(seed_dirs ${w}_${label##*:}_f$f)
      [ -n "$dir" ] && sargs+=("--run=${label%%:*}|$dir")
    done
    [ -n "$(seed_dirs ${w}_transfer_f$f)" ] && [ -n "$(seed_dirs ${w}_independent_f$f)" ] && section \
     "**$sn → $tn, $pct: learning speed (target SGD steps to 95 % of the independent control's final held-out accuracy)** ![held-out accuracy against SGD steps](speed_issue33_${s}_${t}_f$f.png)" \
     python -m experiments.learning_speed --fast='PathNet transfer' --reference='independent control' \
      --out="$TMP/speed_issue33_${s}_${t}_f$f.png" \
      --title="$sn → $tn, $pct of the labels: best held-out accuracy so far" "${sargs[@]}"
  done
  [ -n "$(lc_dirs l33_${s}_${t}_transfer)" ] && section "**$sn → $tn: UA against the share of the labels** ![UA against label share, $sn → $tn](curve_issue33_${s}_${t}.png)" \
   curve curve_issue33_${s}_${t}.png "$sn → $tn: $tn utterance UA, random 5-fold" 'PathNet transfer' \
   "PathNet transfer|$(lc_dirs l33_${s}_${t}_transfer)" \
   "PathNet scratch|$(lc_dirs l33_${s}_${t}_scratch)" \
   "independent control|$(lc_dirs l33_${s}_${t}_independent)" \
   "fine-tuning control|$(lc_dirs l33_${s}_${t}_finetune)" \
   "fixed random pathway|$(lc_dirs l33_${s}_${t}_fixed)" \
   "ComParE + SVM + speaker norm|$(files $A/${tc}_ComParE_2016_random_kfold_speaker_norm_f{0.1,0.25,1.0}.json)"
  return 0
}
l33 rav emo RAVDESS EMO-DB emodb
l33 emo rav EMO-DB RAVDESS ravdess
} > "$TMP/issue33.md"

[ -e "$TMP/failed" ] && die "a table failed to build (see above); $RESULTS_MD left unchanged"
written="" kept=""
for b in $BLOCKS; do
  if grep -v '^| method' "$TMP/$b.md" | grep -q '^| '; then written="$written $b"; else kept="$kept $b"; fi
done
[ -n "$written" ] || die "no finished runs under '$RUNS': $RESULTS_MD left unchanged"
[ -z "$kept" ] || echo "readme_tables.sh: no finished run under $RUNS for:$kept; left as it is" >&2
# Replace the blocks in one atomic rename, then move the PNGs in.
python - "$RESULTS_MD" "$TMP" $written <<'EOF' || die "could not rewrite $RESULTS_MD"
import os, sys
doc, tmp, names = sys.argv[1], sys.argv[2], sys.argv[3:]
with open(doc, encoding='utf-8') as f:
  text = f.read()
for name in names:
  begin = f'<!-- BEGIN readme_tables.sh {name} -->\n'
  end = f'\n<!-- END readme_tables.sh {name} -->'
  i, j = text.index(begin) + len(begin), text.index(end)
  if j < i - 1:
    sys.exit(f'error: {doc}: END before BEGIN for {name}')
  with open(os.path.join(tmp, f'{name}.md'), encoding='utf-8') as f:
    text = text[:i] + f.read().strip('\n') + text[j:]
with open(doc + '.tmp', 'w', encoding='utf-8') as f:
  f.write(text)
os.replace(doc + '.tmp', doc)
EOF
for png in "$TMP"/*.png; do [ -e "$png" ] && mv "$png" "$(dirname "$RESULTS_MD")/"; done
echo "wrote:$written in $RESULTS_MD"
