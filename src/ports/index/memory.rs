//! An exact in-process index: all vectors in one contiguous matrix, searched
//! by brute-force dot product (cosine similarity, as embeddings are unit
//! length). Exact, and fast enough for the hundred-thousand-face collections an
//! embedded deployment holds.

use std::{cmp::Ordering, collections::BinaryHeap, collections::HashMap, sync::RwLock};

use async_trait::async_trait;

use super::{Hit, IndexEntry, VectorIndex};
use crate::error::{Error, Result};

pub struct MemoryIndex {
    dimension: usize,
    inner: RwLock<Matrix>,
}

#[derive(Default)]
struct Matrix {
    vectors: Vec<f32>,
    /// Face id and person id of each row.
    rows: Vec<(String, String)>,
    position: HashMap<String, usize>,
}

impl MemoryIndex {
    pub fn new(dimension: usize) -> Self {
        MemoryIndex {
            dimension,
            inner: RwLock::new(Matrix::default()),
        }
    }

    fn check(&self, vector: &[f32]) -> Result<()> {
        if vector.len() == self.dimension {
            Ok(())
        } else {
            Err(Error::Internal(format!(
                "a {}-dimensional vector was given to a {}-dimensional index",
                vector.len(),
                self.dimension
            )))
        }
    }
}

impl Matrix {
    fn remove(&mut self, face_id: &str, dimension: usize) {
        let Some(row) = self.position.remove(face_id) else {
            return;
        };
        let last = self.rows.len() - 1;
        if row != last {
            let (head, tail) = self.vectors.split_at_mut(last * dimension);
            head[row * dimension..(row + 1) * dimension].copy_from_slice(&tail[..dimension]);
            self.rows.swap(row, last);
            self.position.insert(self.rows[row].0.clone(), row);
        }
        self.rows.pop();
        self.vectors.truncate(last * dimension);
    }
}

#[async_trait]
impl VectorIndex for MemoryIndex {
    async fn upsert(&self, entries: Vec<IndexEntry>) -> Result<()> {
        for entry in &entries {
            self.check(&entry.embedding)?;
        }
        let mut matrix = self.inner.write().expect("index lock poisoned");
        for entry in entries {
            matrix.remove(&entry.face_id, self.dimension);
            let row = matrix.rows.len();
            matrix.vectors.extend_from_slice(&entry.embedding);
            matrix.position.insert(entry.face_id.clone(), row);
            matrix.rows.push((entry.face_id, entry.person_id));
        }
        Ok(())
    }

    async fn delete(&self, face_ids: &[String]) -> Result<()> {
        let mut matrix = self.inner.write().expect("index lock poisoned");
        for id in face_ids {
            matrix.remove(id, self.dimension);
        }
        Ok(())
    }

    async fn search(
        &self,
        queries: &[Vec<f32>],
        k: usize,
        min_similarity: f32,
    ) -> Result<Vec<Vec<Hit>>> {
        for query in queries {
            self.check(query)?;
        }
        let matrix = self.inner.read().expect("index lock poisoned");
        Ok(queries
            .iter()
            .map(|q| top_k(&matrix, q, self.dimension, k, min_similarity))
            .collect())
    }

    async fn len(&self) -> Result<usize> {
        Ok(self.inner.read().expect("index lock poisoned").rows.len())
    }
}

/// A candidate ordered so that the heap's top is the worst one kept.
struct Candidate(f32, usize);

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.total_cmp(&self.0)
    }
}

fn top_k(
    matrix: &Matrix,
    query: &[f32],
    dimension: usize,
    k: usize,
    min_similarity: f32,
) -> Vec<Hit> {
    if k == 0 {
        return Vec::new();
    }
    let mut best = BinaryHeap::with_capacity(k + 1);
    for (row, vector) in matrix.vectors.chunks_exact(dimension).enumerate() {
        let similarity = dot(vector, query);
        if similarity < min_similarity {
            continue;
        }
        if best.len() < k {
            best.push(Candidate(similarity, row));
        } else if best
            .peek()
            .is_some_and(|worst: &Candidate| similarity > worst.0)
        {
            best.pop();
            best.push(Candidate(similarity, row));
        }
    }
    best.into_sorted_vec()
        .into_iter()
        .map(|Candidate(similarity, row)| Hit {
            face_id: matrix.rows[row].0.clone(),
            person_id: matrix.rows[row].1.clone(),
            similarity,
        })
        .collect()
}

/// Eight independent accumulators let the compiler vectorise the loop.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(face: &str, person: &str, v: [f32; 2]) -> IndexEntry {
        IndexEntry {
            face_id: face.into(),
            person_id: person.into(),
            embedding: v.to_vec(),
        }
    }

    #[tokio::test]
    async fn search_returns_the_most_similar_first_and_respects_the_floor() {
        let index = MemoryIndex::new(2);
        index
            .upsert(vec![
                entry("a", "p", [1.0, 0.0]),
                entry("b", "q", [0.6, 0.8]),
                entry("c", "r", [0.0, 1.0]),
            ])
            .await
            .unwrap();

        let hits = index.search(&[vec![0.8, 0.6]], 2, 0.5).await.unwrap();

        let ids: Vec<_> = hits[0].iter().map(|h| h.face_id.as_str()).collect();
        assert_eq!(ids, ["b", "a"]);
        let floor = index.search(&[vec![0.8, 0.6]], 3, 0.7).await.unwrap();
        assert_eq!(floor[0].len(), 2);
    }

    #[tokio::test]
    async fn delete_keeps_the_other_rows_searchable() {
        let index = MemoryIndex::new(2);
        index
            .upsert(vec![
                entry("a", "p", [1.0, 0.0]),
                entry("b", "q", [0.0, 1.0]),
                entry("c", "r", [0.6, 0.8]),
            ])
            .await
            .unwrap();

        index.delete(&["a".to_string()]).await.unwrap();

        assert_eq!(index.len().await.unwrap(), 2);
        let hits = index.search(&[vec![1.0, 0.0]], 1, -1.0).await.unwrap();
        assert_eq!(hits[0][0].face_id, "c");
        let hits = index.search(&[vec![0.0, 1.0]], 1, -1.0).await.unwrap();
        assert_eq!(hits[0][0].face_id, "b");
    }

    #[tokio::test]
    async fn upsert_of_a_known_face_replaces_its_vector() {
        let index = MemoryIndex::new(2);
        index
            .upsert(vec![entry("a", "p", [1.0, 0.0])])
            .await
            .unwrap();
        index
            .upsert(vec![entry("a", "p", [0.0, 1.0])])
            .await
            .unwrap();

        assert_eq!(index.len().await.unwrap(), 1);
        let hits = index.search(&[vec![0.0, 1.0]], 1, 0.9).await.unwrap();
        assert_eq!(hits[0].len(), 1);
    }
}
