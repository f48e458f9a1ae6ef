//! The independent computation of the 8 answers (spec §4-5) from the source rows, written out
//! plainly, for the tests that check the batch job's answers.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

// ---- the independent computation: spec §4-5 written out plainly over the source rows ----

fn followers(s: &str) -> Option<i64> {
    if let Some(n) = s.strip_suffix('k') {
        return n.parse::<f64>().ok().map(|v| (v * 1e3) as i64);
    }
    if let Some(n) = s.strip_suffix('M') {
        return n.parse::<f64>().ok().map(|v| (v * 1e6) as i64);
    }
    s.parse().ok()
}

fn age_group(age: i64) -> Option<(u8, &'static str)> {
    match age {
        18..=24 => Some((1, "18-24")),
        25..=35 => Some((2, "25-35")),
        36..=50 => Some((3, "36-50")),
        a if a > 50 => Some((4, "+50")),
        _ => None,
    }
}

fn lower_median(mut v: Vec<i64>) -> i64 {
    v.sort();
    v[v.len().div_ceil(2) - 1]
}

struct Post {
    category: String,
    poster: Option<String>,
    followers: Option<i64>,
    country: String,
    year: i64,
    age: i64,
    joined: i64,
}

pub fn expected_answers(
    tables: &[Vec<Value>; 3],
    keys: &BTreeSet<usize>,
) -> BTreeMap<&'static str, Vec<Value>> {
    let posts: Vec<Post> = keys
        .iter()
        .map(|k| {
            let (p, g, u) = (&tables[0][*k], &tables[1][*k], &tables[2][*k]);
            let fc = p["follower_count"].as_str().unwrap();
            let poster = p["poster_name"].as_str().unwrap();
            Post {
                category: p["category"].as_str().unwrap().to_string(),
                poster: (poster != "User Info Error" && !poster.is_empty())
                    .then(|| poster.to_string()),
                followers: if fc == "User Info Error" {
                    None
                } else {
                    followers(fc)
                },
                country: g["country"].as_str().unwrap().to_string(),
                year: g["timestamp"].as_str().unwrap()[..4].parse().unwrap(),
                age: u["age"].as_i64().unwrap(),
                joined: u["date_joined"].as_str().unwrap()[..4].parse().unwrap(),
            }
        })
        .collect();
    let mut out = BTreeMap::new();

    let top_categories = |groups: BTreeMap<(String, String), i64>| -> Vec<(String, String, i64)> {
        let mut best: BTreeMap<String, i64> = BTreeMap::new();
        for ((g, _), n) in &groups {
            let b = best.entry(g.clone()).or_default();
            *b = (*b).max(*n);
        }
        groups
            .into_iter()
            .filter(|((g, _), n)| best[g] == *n)
            .map(|((g, c), n)| (g, c, n))
            .collect()
    };
    let mut q1: BTreeMap<(String, String), i64> = BTreeMap::new();
    for p in &posts {
        *q1.entry((p.country.clone(), p.category.clone()))
            .or_default() += 1;
    }
    out.insert(
        "q1",
        top_categories(q1)
            .into_iter()
            .map(|(c, k, n)| json!({"country": c, "category": k, "category_count": n}))
            .collect(),
    );

    let mut q2: BTreeMap<(i64, String), i64> = BTreeMap::new();
    for p in posts.iter().filter(|p| (2018..=2022).contains(&p.year)) {
        *q2.entry((p.year, p.category.clone())).or_default() += 1;
    }
    out.insert(
        "q2",
        q2.into_iter()
            .map(|((y, c), n)| json!({"post_year": y, "category": c, "category_count": n}))
            .collect(),
    );

    let mut top: BTreeMap<String, i64> = BTreeMap::new();
    for p in &posts {
        if let (Some(_), Some(f)) = (&p.poster, p.followers) {
            let t = top.entry(p.country.clone()).or_insert(f);
            *t = (*t).max(f);
        }
    }
    let mut q3a = BTreeSet::new();
    for p in &posts {
        if let (Some(name), Some(f)) = (&p.poster, p.followers) {
            if top[&p.country] == f {
                q3a.insert((p.country.clone(), name.clone(), f));
            }
        }
    }
    out.insert(
        "q3a",
        q3a.into_iter()
            .map(|(c, n, f)| json!({"country": c, "poster_name": n, "follower_count": f}))
            .collect(),
    );
    let max = top.values().copied().max().unwrap();
    out.insert(
        "q3b",
        top.iter()
            .filter(|(_, f)| **f == max)
            .map(|(c, f)| json!({"country": c, "follower_count": f}))
            .collect(),
    );

    let mut q4: BTreeMap<(u8, String), i64> = BTreeMap::new();
    for p in &posts {
        if let Some((o, _)) = age_group(p.age) {
            *q4.entry((o, p.category.clone())).or_default() += 1;
        }
    }
    let mut best: BTreeMap<u8, i64> = BTreeMap::new();
    for ((o, _), n) in &q4 {
        let b = best.entry(*o).or_default();
        *b = (*b).max(*n);
    }
    let name = |o: u8| ["", "18-24", "25-35", "36-50", "+50"][o as usize];
    out.insert(
        "q4",
        q4.into_iter()
            .filter(|((o, _), n)| best[o] == *n)
            .map(|((o, c), n)| json!({"age_group": name(o), "category": c, "category_count": n}))
            .collect(),
    );

    let mut q5: BTreeMap<u8, Vec<i64>> = BTreeMap::new();
    let mut q7: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    let mut q8: BTreeMap<(u8, i64), Vec<i64>> = BTreeMap::new();
    for p in &posts {
        let Some(f) = p.followers else { continue };
        let in_years = (2015..=2020).contains(&p.joined);
        if let Some((o, _)) = age_group(p.age) {
            q5.entry(o).or_default().push(f);
            if in_years {
                q8.entry((o, p.joined)).or_default().push(f);
            }
        }
        if in_years {
            q7.entry(p.joined).or_default().push(f);
        }
    }
    out.insert(
        "q5",
        q5.into_iter()
            .map(|(o, v)| json!({"age_group": name(o), "median_follower_count": lower_median(v)}))
            .collect(),
    );
    let mut q6: BTreeMap<i64, i64> = BTreeMap::new();
    for p in posts.iter().filter(|p| (2015..=2020).contains(&p.joined)) {
        *q6.entry(p.joined).or_default() += 1;
    }
    out.insert(
        "q6",
        q6.into_iter()
            .map(|(y, n)| json!({"post_year": y, "number_users_joined": n}))
            .collect(),
    );
    out.insert(
        "q7",
        q7.into_iter()
            .map(|(y, v)| json!({"post_year": y, "median_follower_count": lower_median(v)}))
            .collect(),
    );
    out.insert("q8", q8.into_iter().map(|((o, y), v)| json!({"age_group": name(o), "post_year": y, "median_follower_count": lower_median(v)})).collect());
    out
}
