"""pathnet_jax.ensemble: which pathways form the test-time ensemble, and how
their predictions are combined."""
import numpy as np
import pytest

from pathnet_jax import ensemble

# Population of 4 pathways, L=2 layers, N=2 slots.
GENOTYPES = np.array([[[0, 1], [2, 3]],
                      [[4, 5], [6, 7]],
                      [[1, 0], [3, 2]],   # pathway 0 with its slots swapped
                      [[8, 8], [9, 9]]], np.int32)
FITNESS = np.array([0.5, 0.9, 0.7, 0.6])


def test_best_first_then_population_by_descending_fitness():
  best = np.array([[10, 11], [12, 13]], np.int32)
  got = ensemble.fittest_distinct(GENOTYPES, FITNESS, 3, best=best)
  np.testing.assert_array_equal(got, [best, GENOTYPES[1], GENOTYPES[2]])


def test_a_pathway_with_the_same_modules_is_taken_once():
  got = ensemble.fittest_distinct(GENOTYPES, FITNESS, 4)
  # 1 (0.9), 2 (0.7), 3 (0.6); 0 (0.5) activates 2's modules: skipped.
  np.testing.assert_array_equal(got, GENOTYPES[[1, 2, 3]])


def test_best_still_in_the_population_is_not_repeated():
  got = ensemble.fittest_distinct(GENOTYPES, FITNESS, 2, best=GENOTYPES[1])
  np.testing.assert_array_equal(got, GENOTYPES[[1, 2]])


def test_size_one_is_the_best_pathway_alone():
  got = ensemble.fittest_distinct(GENOTYPES, FITNESS, 1, best=GENOTYPES[3])
  np.testing.assert_array_equal(got, GENOTYPES[3][None])


def test_equal_fitness_keeps_population_order():
  got = ensemble.fittest_distinct(GENOTYPES, np.zeros(4), 3)
  np.testing.assert_array_equal(got, GENOTYPES[[0, 1, 3]])


@pytest.mark.parametrize('k, fitness', [(0, FITNESS), (2, FITNESS[:3])])
def test_bad_size_or_shapes_are_rejected(k, fitness):
  with pytest.raises(ValueError):
    ensemble.fittest_distinct(GENOTYPES, fitness, k)


def test_mean_probability_averages_probabilities_not_log_probabilities():
  p = np.array([[[0.9, 0.1]], [[0.3, 0.7]]])  # k=2 members, n=1, C=2
  got = ensemble.mean_probability(np.log(p))
  np.testing.assert_allclose(np.exp(got), [[0.6, 0.4]])


def test_mean_probability_of_one_member_is_that_member():
  lp = np.log(np.array([[[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]]]))
  np.testing.assert_array_equal(ensemble.mean_probability(lp), lp[0])


def test_mean_probability_is_stable_for_very_negative_log_probabilities():
  lp = np.array([[[-1000.0, 0.0]], [[-1002.0, 0.0]]])
  got = ensemble.mean_probability(lp)
  assert np.all(np.isfinite(got))
  np.testing.assert_allclose(got[0, 0], -1000.0 + np.log((1 + np.exp(-2)) / 2))
