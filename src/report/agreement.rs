//! Agreement between raters (judges): Krippendorff's alpha on the interval scale for scores,
//! Fleiss' kappa for categorical verdicts. Each follows its reference implementation's formula
//! exactly (`krippendorff.alpha(…, level_of_measurement="interval")` 0.9.0,
//! `statsmodels.stats.inter_rater.fleiss_kappa` 0.15.0) and is checked against values they
//! computed (`tests/fixtures/agreement/`), Krippendorff's published example among them.

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

#[cfg(test)]
mod tests {
    use super::*;

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
