//! Agreement between raters (judges): Krippendorff's alpha on the interval scale for scores,
//! Fleiss' kappa for categorical verdicts, and Cohen's quadratically weighted kappa of a judge's
//! scores against a person's. Each follows its reference implementation's formula exactly
//! (`krippendorff.alpha(…, level_of_measurement="interval")` 0.9.0,
//! `statsmodels.stats.inter_rater.fleiss_kappa` 0.15.0, scikit-learn 1.5.2's
//! `cohen_kappa_score(…, weights="quadratic")`) and is checked against values they computed
//! (`tests/fixtures/agreement/`), Krippendorff's published example among them.

/// Krippendorff's alpha, interval metric. `units[u]`: the values the raters gave unit `u`;
/// units with fewer than two values cannot be paired and are left out. `None` when it is
/// undefined (no pairable values, or no variation at all).
pub fn krippendorff_alpha_interval(units: &[Vec<f64>]) -> Option<f64> {
    let pairable: Vec<&Vec<f64>> = units.iter().filter(|u| u.len() >= 2).collect();
    let n = pairable.iter().map(|u| u.len()).sum::<usize>() as f64;
    if n < 2.0 {
        return None;
    }
    // Σ over ordered pairs i ≠ j of (a_i − a_j)² = 2·m·Σa² − 2·(Σa)².
    let pair_sum = |vals: &mut dyn Iterator<Item = f64>| {
        let (mut m, mut s1, mut s2) = (0.0, 0.0, 0.0);
        for v in vals {
            m += 1.0;
            s1 += v;
            s2 += v * v;
        }
        2.0 * m * s2 - 2.0 * s1 * s1
    };
    let observed: f64 =
        pairable.iter().map(|u| pair_sum(&mut u.iter().copied()) / (u.len() as f64 - 1.0)).sum::<f64>() / n;
    let expected = pair_sum(&mut pairable.iter().flat_map(|u| u.iter().copied())) / (n * (n - 1.0));
    if expected == 0.0 {
        return None;
    }
    Some(1.0 - observed / expected)
}

/// Fleiss' kappa. `items[i][c]`: how many raters put item `i` in category `c`; every item is
/// rated by the same number of raters (at least two). `None` when undefined.
pub fn fleiss_kappa(items: &[Vec<u64>]) -> Option<f64> {
    let raters = items.first()?.iter().sum::<u64>();
    if raters < 2 || items.iter().any(|row| row.iter().sum::<u64>() != raters) {
        return None;
    }
    let categories = items[0].len();
    let (n_items, r) = (items.len() as f64, raters as f64);
    let total = n_items * r;
    let p_cat: Vec<f64> = (0..categories)
        .map(|c| items.iter().map(|row| row.get(c).copied().unwrap_or(0) as f64).sum::<f64>() / total)
        .collect();
    let p_mean =
        items.iter().map(|row| (row.iter().map(|&v| (v * v) as f64).sum::<f64>() - r) / (r * (r - 1.0))).sum::<f64>()
            / n_items;
    let p_exp: f64 = p_cat.iter().map(|p| p * p).sum();
    if p_exp == 1.0 {
        return None;
    }
    Some((p_mean - p_exp) / (1.0 - p_exp))
}

/// Cohen's kappa with quadratic weights on the 1–5 scale: how far a judge's scores agree with a
/// person's beyond chance, a near miss costing less than a far one. `pairs`: (judge, person)
/// scores, each 1..=5 (others are left out). As scikit-learn's
/// `cohen_kappa_score(judge, person, labels=[1, 2, 3, 4, 5], weights="quadratic")`; `None` when
/// it is undefined (no pairs, or no spread to disagree over).
pub fn weighted_kappa(pairs: &[(u8, u8)]) -> Option<f64> {
    let mut table = [[0f64; 5]; 5];
    let mut n = 0.0;
    for &(a, b) in pairs.iter().filter(|(a, b)| (1..=5).contains(a) && (1..=5).contains(b)) {
        table[usize::from(a - 1)][usize::from(b - 1)] += 1.0;
        n += 1.0;
    }
    if n == 0.0 {
        return None;
    }
    let rows: Vec<f64> = table.iter().map(|r| r.iter().sum()).collect();
    let cols: Vec<f64> = (0..5).map(|j| table.iter().map(|r| r[j]).sum()).collect();
    let (mut observed, mut expected) = (0.0, 0.0);
    for i in 0..5 {
        for j in 0..5 {
            let w = ((i as f64) - (j as f64)).powi(2);
            observed += w * table[i][j];
            expected += w * rows[i] * cols[j] / n;
        }
    }
    (expected > 0.0).then(|| 1.0 - observed / expected)
}

/// A 95% percentile-bootstrap interval for [`weighted_kappa`]: `resamples` draws of the pairs
/// with replacement from a `StdRng` seeded with `seed` (resamples where it is undefined are left
/// out). `None` with fewer than two pairs or no defined resample.
pub fn weighted_kappa_interval(pairs: &[(u8, u8)], resamples: usize, seed: u64) -> Option<(f64, f64)> {
    use rand::{Rng, SeedableRng};
    if pairs.len() < 2 {
        return None;
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut draw = Vec::with_capacity(pairs.len());
    let mut stats = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        draw.clear();
        draw.extend((0..pairs.len()).map(|_| pairs[rng.random_range(0..pairs.len())]));
        stats.extend(weighted_kappa(&draw));
    }
    stats.sort_by(f64::total_cmp);
    super::inference::bounds(&stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_kappa_agrees_with_scikit_learn() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/agreement/weighted_kappa.json");
        let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let cases = doc["quadratic"].as_array().unwrap();
        assert!(cases.len() >= 40);
        let scores = |v: &serde_json::Value| -> Vec<u8> {
            v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u8).collect()
        };
        for case in cases {
            let pairs: Vec<(u8, u8)> = scores(&case["judge"]).into_iter().zip(scores(&case["person"])).collect();
            let got = weighted_kappa(&pairs);
            match case["kappa"].as_f64() {
                None => assert_eq!(got, None, "undefined for {pairs:?}"),
                Some(want) => {
                    let got = got.unwrap_or_else(|| panic!("defined for {pairs:?}"));
                    assert!((got - want).abs() < 1e-9, "kappa {got} vs scikit-learn {want} for {pairs:?}");
                }
            }
        }
    }

    #[test]
    fn the_kappa_interval_holds_the_estimate_and_narrows_with_more_pairs() {
        let few: Vec<(u8, u8)> = [(5, 5), (4, 4), (3, 2), (2, 2), (1, 2), (4, 5), (5, 4), (3, 3)].to_vec();
        let many: Vec<(u8, u8)> = few.iter().cycle().take(few.len() * 10).copied().collect();
        let k = weighted_kappa(&few).unwrap();
        let (lo, hi) = weighted_kappa_interval(&few, 2000, 7).unwrap();
        assert!(lo <= k && k <= hi, "{lo} ≤ {k} ≤ {hi}");
        let (lo2, hi2) = weighted_kappa_interval(&many, 2000, 7).unwrap();
        assert!(hi2 - lo2 < hi - lo, "more pairs, narrower: {lo2}..{hi2} vs {lo}..{hi}");
        assert_eq!(weighted_kappa_interval(&few, 2000, 7), weighted_kappa_interval(&few, 2000, 7), "seeded");
        assert_eq!(weighted_kappa_interval(&few[..1], 2000, 7), None);
        assert_eq!(weighted_kappa(&[]), None);
        assert_eq!(weighted_kappa(&[(0, 9)]), None, "off the scale: left out");
    }

    #[test]
    fn agrees_with_the_reference_implementations() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/agreement/cases.json");
        let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let alpha_cases = doc["alpha_interval"].as_array().unwrap();
        assert!(alpha_cases.len() >= 30);
        for case in alpha_cases {
            // Raters × units in the file; this function takes units.
            let raters = case["ratings"].as_array().unwrap();
            let units = raters[0].as_array().unwrap().len();
            let by_unit: Vec<Vec<f64>> =
                (0..units).map(|u| raters.iter().filter_map(|r| r[u].as_f64()).collect()).collect();
            let want = case["alpha"].as_f64().unwrap();
            let got = krippendorff_alpha_interval(&by_unit).unwrap();
            assert!((got - want).abs() < 1e-9, "alpha {got} vs krippendorff {want} for {by_unit:?}");
        }
        // Krippendorff's published example: α = 0.849 (interval).
        let first = alpha_cases[0]["alpha"].as_f64().unwrap();
        assert!((first - 0.849).abs() < 5e-4, "{first}");
        let fleiss_cases = doc["fleiss"].as_array().unwrap();
        assert!(fleiss_cases.len() >= 30);
        for case in fleiss_cases {
            let cats = case["categories"].as_u64().unwrap() as usize;
            let table: Vec<Vec<u64>> = case["ratings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|item| {
                    let mut row = vec![0u64; cats];
                    for v in item.as_array().unwrap() {
                        row[v.as_u64().unwrap() as usize] += 1;
                    }
                    row
                })
                .collect();
            let want = case["kappa"].as_f64().unwrap();
            let got = fleiss_kappa(&table).unwrap();
            assert!((got - want).abs() < 1e-9, "kappa {got} vs statsmodels {want} for {table:?}");
        }
    }

    #[test]
    fn undefined_cases_are_none() {
        assert_eq!(krippendorff_alpha_interval(&[vec![3.0]]), None, "nothing pairable");
        assert_eq!(krippendorff_alpha_interval(&[vec![3.0, 3.0], vec![3.0, 3.0]]), None, "no variation");
        assert_eq!(fleiss_kappa(&[vec![2, 0], vec![1, 2]]), None, "unequal raters per item");
        assert_eq!(fleiss_kappa(&[]), None);
    }
}
