//! `facebank calibrate`: the false-accept and false-reject rates of the
//! recogniser over labelled photos, at a range of thresholds, and the
//! threshold with the lowest total error.
//!
//! The photos are one folder per person. Every pair of photos of one person
//! is a genuine pair and every pair of photos of two people an impostor pair;
//! a `pairs.tsv` (`file1`, `file2`, `same`) in the folder is scored as well.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use anyhow::Context;

use crate::{
    config::Config,
    pipeline::{similarity, Embedding, Pipeline, Selection},
};

#[derive(clap::Args)]
pub struct CalibrateArgs {
    /// Folder of labelled photos, one sub-folder per person.
    #[arg(long, default_value = "tests/data/faces")]
    pub faces: PathBuf,
    /// Lowest threshold of the table.
    #[arg(long, default_value_t = 0.85)]
    pub from: f32,
    /// Highest threshold of the table.
    #[arg(long, default_value_t = 0.97)]
    pub to: f32,
    #[arg(long, default_value_t = 0.005)]
    pub step: f32,
}

/// A labelled pair's similarity.
#[derive(Debug, Clone, Copy)]
pub struct Scored {
    pub similarity: f32,
    pub same: bool,
}

/// Error rates at one threshold.
#[derive(Debug, Clone, Copy)]
pub struct Rates {
    pub threshold: f32,
    pub false_accepts: usize,
    pub impostors: usize,
    pub false_rejects: usize,
    pub genuines: usize,
}

impl Rates {
    pub fn at(pairs: &[Scored], threshold: f32) -> Rates {
        let genuines = pairs.iter().filter(|p| p.same).count();
        Rates {
            threshold,
            false_accepts: pairs
                .iter()
                .filter(|p| !p.same && p.similarity >= threshold)
                .count(),
            impostors: pairs.len() - genuines,
            false_rejects: pairs
                .iter()
                .filter(|p| p.same && p.similarity < threshold)
                .count(),
            genuines,
        }
    }

    pub fn far(&self) -> f64 {
        self.false_accepts as f64 / self.impostors.max(1) as f64
    }

    pub fn frr(&self) -> f64 {
        self.false_rejects as f64 / self.genuines.max(1) as f64
    }

    pub fn accuracy(&self) -> f64 {
        let wrong = self.false_accepts + self.false_rejects;
        1.0 - wrong as f64 / (self.impostors + self.genuines).max(1) as f64
    }
}

pub async fn run(args: CalibrateArgs) -> anyhow::Result<()> {
    let config = Config::load()?;
    let pipeline = crate::standalone_pipeline(&config).await?;

    let photos = labelled_photos(&args.faces)?;
    let mut embeddings: BTreeMap<String, (String, Embedding)> = BTreeMap::new();
    for (file, person) in &photos {
        match largest_face(&pipeline, &args.faces.join(file)).await {
            Ok(Some(embedding)) => {
                embeddings.insert(file.clone(), (person.clone(), embedding));
            }
            Ok(None) => println!("no face found in {file}"),
            Err(error) => println!("{file}: {error}"),
        }
    }
    println!("{} photos, {} with a face", photos.len(), embeddings.len());

    let folder_pairs = all_pairs(&embeddings);
    print_table("every pair the folders imply", &folder_pairs, &args);

    let listed = args.faces.join("pairs.tsv");
    if listed.exists() {
        let listed_pairs = listed_pairs(&listed, &embeddings)?;
        print_table("pairs.tsv", &listed_pairs, &args);
    }
    Ok(())
}

async fn largest_face(pipeline: &Pipeline, path: &Path) -> anyhow::Result<Option<Embedding>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let image = pipeline.decode(bytes.into()).await?;
    let face = pipeline
        .embed_faces(&image, Selection::Largest)
        .await?
        .pop();
    Ok(face.map(|f| f.embedding))
}

/// (file relative to the folder, person) for every photo.
fn labelled_photos(folder: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut photos = Vec::new();
    for person in
        std::fs::read_dir(folder).with_context(|| format!("cannot read {}", folder.display()))?
    {
        let person = person?;
        if !person.file_type()?.is_dir() {
            continue;
        }
        let name = person.file_name().to_string_lossy().into_owned();
        for photo in std::fs::read_dir(person.path())? {
            let file = photo?.file_name().to_string_lossy().into_owned();
            photos.push((format!("{name}/{file}"), name.clone()));
        }
    }
    photos.sort();
    Ok(photos)
}

fn all_pairs(embeddings: &BTreeMap<String, (String, Embedding)>) -> Vec<Scored> {
    let entries: Vec<_> = embeddings.values().collect();
    let mut pairs = Vec::new();
    for (i, (person_a, a)) in entries.iter().enumerate() {
        for (person_b, b) in &entries[i + 1..] {
            pairs.push(Scored {
                similarity: similarity(a, b),
                same: person_a == person_b,
            });
        }
    }
    pairs
}

fn listed_pairs(
    path: &Path,
    embeddings: &BTreeMap<String, (String, Embedding)>,
) -> anyhow::Result<Vec<Scored>> {
    let text = std::fs::read_to_string(path)?;
    let mut pairs = Vec::new();
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split('\t').collect();
        let [a, b, same] = fields.as_slice() else {
            anyhow::bail!("malformed line {line:?}")
        };
        match (embeddings.get(*a), embeddings.get(*b)) {
            (Some((_, a)), Some((_, b))) => pairs.push(Scored {
                similarity: similarity(a, b),
                same: *same == "1",
            }),
            _ => println!("pair {a} {b}: a photo has no face"),
        }
    }
    Ok(pairs)
}

fn print_table(title: &str, pairs: &[Scored], args: &CalibrateArgs) {
    println!(
        "\n{title}: {} genuine, {} impostor pairs",
        pairs.iter().filter(|p| p.same).count(),
        pairs.iter().filter(|p| !p.same).count()
    );
    println!(
        "{:>9} {:>9} {:>9} {:>9} {:>7} {:>7}",
        "threshold", "FAR", "FRR", "accuracy", "FA", "FR"
    );
    let steps = ((args.to - args.from) / args.step).round() as usize;
    let mut best: Option<Rates> = None;
    for i in 0..=steps {
        let rates = Rates::at(pairs, args.from + i as f32 * args.step);
        println!(
            "{:>9.3} {:>8.3}% {:>8.3}% {:>8.3}% {:>7} {:>7}",
            rates.threshold,
            rates.far() * 100.0,
            rates.frr() * 100.0,
            rates.accuracy() * 100.0,
            rates.false_accepts,
            rates.false_rejects
        );
        if best.is_none_or(|b| rates.far() + rates.frr() < b.far() + b.frr()) {
            best = Some(rates);
        }
    }
    if let Some(best) = best {
        println!(
            "lowest FAR + FRR at {:.3}: FAR {:.3}%, FRR {:.3}%",
            best.threshold,
            best.far() * 100.0,
            best.frr() * 100.0
        );
    }
}
