"""data_prep.corpora: each reader on a fixture tree in its documented layout."""
import collections
import logging
from pathlib import Path

import pytest

from data_prep import corpora
from data_prep import labels

EMODB_REAL = Path(__file__).resolve().parents[1].parent / 'shared' / 'data' / 'emodb'


def touch(root, *rels):
  """Empty files (readers look at names only)."""
  for rel in rels:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b'')


def counts(records):
  return dict(collections.Counter(r.label for r in records))


def test_get_and_unknown_names():
  assert corpora.get('emodb').NAME == 'emodb'
  assert set(corpora.NAMES) == {'emodb', 'savee', 'enterface', 'ravdess',
                                'crema_d', 'tess'}
  with pytest.raises(ValueError, match='crema_d'):
    corpora.get('crema')
  with pytest.raises(ValueError, match='modality'):
    corpora.get('emodb').records('.', modality='text')


@pytest.mark.parametrize('name', corpora.NAMES)
def test_missing_root_names_it(tmp_path, name):
  with pytest.raises(corpora.CorpusError, match='no_such_corpus'):
    corpora.get(name).records(tmp_path / 'no_such_corpus')


def test_labels_vocabulary():
  assert labels.EMOTIONS == ('neutral', 'calm', 'anger', 'boredom', 'disgust',
                             'fear', 'happiness', 'sadness', 'surprise')
  for table in (labels.EMODB, labels.SAVEE, labels.ENTERFACE, labels.RAVDESS,
                labels.CREMA_D, labels.TESS):
    assert set(table.values()) <= set(labels.EMOTIONS)
  assert labels.ordered(['sadness', 'anger', 'neutral', 'anger']) == (
      'neutral', 'anger', 'sadness')


def test_emodb(tmp_path, caplog):
  touch(tmp_path, 'wav/03a01Wa.wav', 'wav/03a01Wb.wav', 'wav/08b02La.wav',
        'wav/09a05Nc.wav', 'wav/13a07Ea.wav', 'wav/16b10Td.wav',
        'wav/10a02Fa.wav', 'wav/11a04Ab.wav', 'wav/README.wav')
  with caplog.at_level(logging.WARNING):
    recs = corpora.get('emodb').records(tmp_path)
  assert 'README.wav' in caplog.text  # a stray file is skipped, not fatal
  assert counts(recs) == {'anger': 2, 'boredom': 1, 'neutral': 1,
                          'disgust': 1, 'sadness': 1, 'happiness': 1,
                          'fear': 1}
  r = recs[0]
  assert (r.corpus, r.speaker, r.utterance_id, r.label, r.sex, r.modality) == (
      'emodb', '03', 'wav/03a01Wa.wav', 'anger', 'm', 'audio')
  assert Path(r.path).is_absolute()
  assert {x.speaker: x.sex for x in recs} == {
      '03': 'm', '08': 'f', '09': 'f', '13': 'f', '16': 'f', '10': 'm',
      '11': 'm'}
  assert corpora.get('emodb').records(tmp_path, 'video') == []


def test_emodb_unknown_code_raises_naming_file(tmp_path):
  touch(tmp_path, 'wav/03a01Wa.wav', 'wav/03a01Xa.wav')
  with pytest.raises(labels.LabelError, match=r'03a01Xa\.wav.*X'):
    corpora.get('emodb').records(tmp_path)


def test_savee(tmp_path):
  audio = [f'AudioData/{s}/{c}{n:02d}.wav' for s in ('DC', 'JE')
           for c, k in (('a', 2), ('d', 1), ('f', 1), ('h', 1), ('n', 3),
                        ('sa', 2), ('su', 1)) for n in range(1, k + 1)]
  touch(tmp_path, *audio, 'AudioData/DC/info.txt',
        'AudioVisualClip/KL/su07.avi', 'AudioVisualClip/KL/n1.avi',
        'AudioVisualClip/JK/sa15.avi')
  mod = corpora.get('savee')
  a = mod.records(tmp_path, 'audio')
  assert counts(a) == {'anger': 4, 'disgust': 2, 'fear': 2, 'happiness': 2,
                       'neutral': 6, 'sadness': 4, 'surprise': 2}
  assert {r.speaker for r in a} == {'DC', 'JE'} and {r.sex for r in a} == {'m'}
  v = mod.records(tmp_path, 'video')
  assert [(r.speaker, r.label, r.modality) for r in v] == [
      ('JK', 'sadness', 'video'), ('KL', 'neutral', 'video'),
      ('KL', 'surprise', 'video')]
  assert len(mod.records(tmp_path)) == len(a) + len(v)


def test_savee_unknown_code_raises_naming_file(tmp_path):
  touch(tmp_path, 'AudioData/DC/x03.wav')
  with pytest.raises(labels.LabelError, match='x03.wav'):
    corpora.get('savee').records(tmp_path)


def test_enterface_regular_and_irregular_layouts(tmp_path, caplog):
  regular = [f'subject {s}/{e}/sentence {m}/s{s}_{c}_{m}.avi'
             for s in (1, 2)
             for e, c in (('anger', 'an'), ('disgust', 'di'), ('fear', 'fe'),
                          ('happiness', 'ha'), ('sadness', 'sa'),
                          ('surprise', 'su'))
             for m in (1, 2)]
  irregular = [
      'subject 6/happiness/s6_ha_1.avi',              # no sentence folder
      'subject 7/Sadness/sentence 3/s_7_sa_3.avi',    # case, extra _
      'subject 8/fear/sentence 1/s8_an_1.avi',        # code ≠ folder
      'subject 9/anger/sentence 2/S9-an-2.avi',       # other separators
      'subject 10/sentence 1/s10_su_1.avi',           # no emotion folder
      'subject 11/misc/clip.avi',                     # cannot be placed
  ]
  touch(tmp_path, *regular, *irregular, 'subject 1/anger/notes.txt')
  with caplog.at_level(logging.WARNING):
    recs = corpora.get('enterface').records(tmp_path, 'audio')
  assert 's8_an_1.avi' in caplog.text and 'using the folder' in caplog.text
  assert 'clip.avi' in caplog.text
  assert counts(recs) == {'anger': 5, 'disgust': 4, 'fear': 5,
                          'happiness': 5, 'sadness': 5, 'surprise': 5}
  by_id = {r.utterance_id: r for r in recs}
  assert by_id['subject 8/fear/sentence 1/s8_an_1.avi'].label == 'fear'
  assert by_id['subject 7/Sadness/sentence 3/s_7_sa_3.avi'].speaker == 's7'
  assert by_id['subject 10/sentence 1/s10_su_1.avi'].label == 'surprise'
  assert {r.speaker for r in recs} == {'s1', 's2', 's6', 's7', 's8', 's9',
                                       's10'}
  both = corpora.get('enterface').records(tmp_path)
  assert len(both) == 2 * len(recs)
  assert collections.Counter(r.modality for r in both) == {
      'audio': len(recs), 'video': len(recs)}


def test_ravdess(tmp_path):
  files = [
      'Actor_01/03-01-01-01-01-01-01.wav',   # audio-only speech, neutral
      'Actor_01/03-01-05-02-01-02-01.wav',   # angry
      'Actor_01/01-01-05-02-01-02-01.mp4',   # same utterance as AV: audio dup
      'Actor_01/02-01-05-02-01-02-01.mp4',   # same, video-only
      'Actor_02/01-01-03-01-02-01-02.mp4',   # happy, AV only → audio track
      'Actor_02/02-01-03-01-02-01-02.mp4',
      'Actor_02/03-02-04-01-01-01-02.wav',   # song, sad
      '01-01-08-01-01-01-12.mp4',            # surprised, no Actor folder
      'Actor_01/readme.wav',
  ]
  touch(tmp_path, *files)
  mod = corpora.get('ravdess')
  a = mod.records(tmp_path, 'audio')
  assert [r.utterance_id for r in a] == [
      '01-01-08-01-01-01-12.mp4',
      'Actor_01/03-01-01-01-01-01-01.wav',
      'Actor_01/03-01-05-02-01-02-01.wav',
      'Actor_02/01-01-03-01-02-01-02.mp4',
      'Actor_02/03-02-04-01-01-01-02.wav']
  assert counts(a) == {'surprise': 1, 'neutral': 1, 'anger': 1,
                       'happiness': 1, 'sadness': 1}
  assert {(r.speaker, r.sex) for r in a} == {('01', 'm'), ('02', 'f'),
                                             ('12', 'f')}
  v = mod.records(tmp_path, 'video')
  assert len(v) == 5 and all(r.path.endswith('.mp4') for r in v)
  assert counts(v) == {'anger': 2, 'happiness': 2, 'surprise': 1}


def test_ravdess_unknown_emotion_raises_naming_file(tmp_path):
  touch(tmp_path, 'Actor_03/03-01-09-01-01-01-03.wav')
  with pytest.raises(labels.LabelError, match='03-01-09-01-01-01-03.wav'):
    corpora.get('ravdess').records(tmp_path)


def test_crema_d(tmp_path, caplog):
  touch(tmp_path,
        'AudioWAV/1001_DFA_ANG_XX.wav', 'AudioWAV/1002_IEO_HAP_HI.wav',
        'AudioWAV/1091_TSI_NEU_XX.wav',  # actor without a demographics row
        'VideoFlash/1001_DFA_ANG_XX.flv',  # same utterance as the wav
        'VideoFlash/1002_ITS_SAD_LO.flv',  # no wav: its sound track is audio
        'AudioWAV/notes.wav')
  (tmp_path / 'VideoDemographics.csv').write_text(
      'ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n'
      '1002,21,Female,Caucasian,Not Hispanic\n')
  mod = corpora.get('crema_d')
  with caplog.at_level(logging.WARNING):
    a = mod.records(tmp_path, 'audio')
  assert 'notes.wav' in caplog.text
  assert [(r.utterance_id, r.speaker, r.sex, r.label) for r in a] == [
      ('AudioWAV/1001_DFA_ANG_XX.wav', '1001', 'm', 'anger'),
      ('AudioWAV/1002_IEO_HAP_HI.wav', '1002', 'f', 'happiness'),
      ('AudioWAV/1091_TSI_NEU_XX.wav', '1091', '', 'neutral'),
      ('VideoFlash/1002_ITS_SAD_LO.flv', '1002', 'f', 'sadness')]
  v = mod.records(tmp_path, 'video')
  assert [(r.utterance_id, r.label) for r in v] == [
      ('VideoFlash/1001_DFA_ANG_XX.flv', 'anger'),
      ('VideoFlash/1002_ITS_SAD_LO.flv', 'sadness')]
  assert len(mod.records(tmp_path)) == len(a) + len(v)
  assert labels.corpus_classes('crema_d') == (
      'neutral', 'anger', 'disgust', 'fear', 'happiness', 'sadness')


def test_crema_d_unknown_emotion_raises_naming_file(tmp_path):
  touch(tmp_path, 'AudioWAV/1001_DFA_BOR_XX.wav')
  with pytest.raises(labels.LabelError, match='1001_DFA_BOR_XX.wav'):
    corpora.get('crema_d').records(tmp_path)


def test_tess(tmp_path, caplog):
  touch(tmp_path,
        'OAF_angry/OAF_back_angry.wav', 'OAF_Pleasant_surprise/OAF_bar_ps.wav',
        'YAF_sad/YAF_youth_sad.wav', 'YAF_happy/yaf_kite_Happy.wav',
        'YAF_happy/readme.wav',
        # some archives nest a second copy of the set
        'TESS/YAF_sad/YAF_youth_sad.wav')
  mod = corpora.get('tess')
  with caplog.at_level(logging.WARNING):
    recs = mod.records(tmp_path)
  assert 'readme.wav' in caplog.text and 'same file name' in caplog.text
  assert [(r.utterance_id, r.speaker, r.label) for r in recs] == [
      ('OAF_Pleasant_surprise/OAF_bar_ps.wav', 'OAF', 'surprise'),
      ('OAF_angry/OAF_back_angry.wav', 'OAF', 'anger'),
      ('TESS/YAF_sad/YAF_youth_sad.wav', 'YAF', 'sadness'),
      ('YAF_happy/yaf_kite_Happy.wav', 'YAF', 'happiness')]
  assert {r.sex for r in recs} == {'f'}
  assert mod.records(tmp_path, 'video') == []
  assert len(labels.corpus_classes('tess')) == 7


@pytest.mark.skipif(not EMODB_REAL.is_dir(), reason='../shared/data/emodb absent')
def test_real_emodb_records():
  recs = corpora.get('emodb').records(EMODB_REAL)
  assert len(recs) == 535
  assert counts(recs) == {'anger': 127, 'boredom': 81, 'neutral': 79,
                          'happiness': 71, 'fear': 69, 'sadness': 62,
                          'disgust': 46}
  speakers = collections.Counter(r.speaker for r in recs)
  assert len(speakers) == 10 and speakers['16'] == 71 and speakers['12'] == 35
  assert collections.Counter(r.sex for r in recs) == {'f': 302, 'm': 233}
