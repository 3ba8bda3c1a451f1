//! An exact in-process index: all vectors in one contiguous matrix, searched
//! by brute-force dot product (cosine similarity, as embeddings are unit
//! length). Exact, and fast enough for the hundred-thousand-face collections an
//! embedded deployment holds.

use std::{
    cmp::Ordering,
    collections::{BinaryHeap, HashMap},
    sync::{PoisonError, RwLock},
};

use async_trait::async_trait;

use super::{Hit, IndexEntry, VectorIndex};
use crate::error::{Error, Result};

pub struct MemoryIndex {
    collections: RwLock<HashMap<String, Matrix>>,
}

struct Matrix {
    dimension: usize,
    vectors: Vec<f32>,
    /// Face id and person id of each row.
    rows: Vec<(String, String)>,
    position: HashMap<String, usize>,
}

impl Default for MemoryIndex {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryIndex {
    pub fn new() -> Self {
        MemoryIndex {
            collections: RwLock::new(HashMap::new()),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Matrix>> {
        self.collections
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Matrix>> {
        self.collections
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn unknown(collection: &str) -> Error {
    Error::Internal(format!("the index has no collection {collection:?}"))
}

impl Matrix {
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

    fn remove(&mut self, face_id: &str) {
        let Some(row) = self.position.remove(face_id) else {
            return;
        };
        let dimension = self.dimension;
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
    async fn create_collection(&self, collection: &str, dimension: usize) -> Result<()> {
        let mut collections = self.write();
        match collections.get(collection) {
            Some(matrix) if matrix.dimension != dimension => Err(Error::Internal(format!(
                "collection {collection:?} exists with {} dimensions, not {dimension}",
                matrix.dimension
            ))),
            Some(_) => Ok(()),
            None => {
                collections.insert(
                    collection.to_string(),
                    Matrix {
                        dimension,
                        vectors: Vec::new(),
                        rows: Vec::new(),
                        position: HashMap::new(),
                    },
                );
                Ok(())
            }
        }
    }

    async fn drop_collection(&self, collection: &str) -> Result<()> {
        self.write().remove(collection);
        Ok(())
    }

    async fn upsert(&self, entries: Vec<IndexEntry>) -> Result<()> {
        let mut collections = self.write();
        for entry in &entries {
            collections
                .get(&entry.collection)
                .ok_or_else(|| unknown(&entry.collection))?
                .check(&entry.embedding)?;
        }
        for entry in entries {
            let Some(matrix) = collections.get_mut(&entry.collection) else {
                continue;
            };
            matrix.remove(&entry.face_id);
            let row = matrix.rows.len();
            matrix.vectors.extend_from_slice(&entry.embedding);
            matrix.position.insert(entry.face_id.clone(), row);
            matrix.rows.push((entry.face_id, entry.person_id));
        }
        Ok(())
    }

    async fn delete(&self, collection: &str, face_ids: &[String]) -> Result<()> {
        if let Some(matrix) = self.write().get_mut(collection) {
            for id in face_ids {
                matrix.remove(id);
            }
        }
        Ok(())
    }

    async fn search(
        &self,
        collection: &str,
        queries: &[Vec<f32>],
        k: usize,
        min_similarity: f32,
    ) -> Result<Vec<Vec<Hit>>> {
        let collections = self.read();
        let matrix = collections
            .get(collection)
            .ok_or_else(|| unknown(collection))?;
        for query in queries {
            matrix.check(query)?;
        }
        Ok(queries
            .iter()
            .map(|q| top_k(matrix, q, k, min_similarity))
            .collect())
    }

    async fn len(&self, collection: &str) -> Result<usize> {
        Ok(self.read().get(collection).map_or(0, |m| m.rows.len()))
    }

    async fn ids_page(
        &self,
        collection: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>> {
        let collections = self.read();
        let Some(matrix) = collections.get(collection) else {
            return Ok(Vec::new());
        };
        let after = after.unwrap_or("");
        let mut ids: Vec<&String> = matrix
            .position
            .keys()
            .filter(|id| id.as_str() > after)
            .collect();
        ids.sort_unstable();
        Ok(ids.into_iter().take(limit).cloned().collect())
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

fn top_k(matrix: &Matrix, query: &[f32], k: usize, min_similarity: f32) -> Vec<Hit> {
    let dimension = matrix.dimension;
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
            collection: "c".into(),
            embedding: v.to_vec(),
        }
    }

    #[tokio::test]
    async fn search_returns_the_most_similar_first_and_respects_the_floor() {
        let index = MemoryIndex::new();
        index.create_collection("c", 2).await.unwrap();
        index
            .upsert(vec![
                entry("a", "p", [1.0, 0.0]),
                entry("b", "q", [0.6, 0.8]),
                entry("c", "r", [0.0, 1.0]),
            ])
            .await
            .unwrap();

        let hits = index.search("c", &[vec![0.8, 0.6]], 2, 0.5).await.unwrap();

        let ids: Vec<_> = hits[0].iter().map(|h| h.face_id.as_str()).collect();
        assert_eq!(ids, ["b", "a"]);
        let floor = index.search("c", &[vec![0.8, 0.6]], 3, 0.7).await.unwrap();
        assert_eq!(floor[0].len(), 2);
    }

    #[tokio::test]
    async fn delete_keeps_the_other_rows_searchable() {
        let index = MemoryIndex::new();
        index.create_collection("c", 2).await.unwrap();
        index
            .upsert(vec![
                entry("a", "p", [1.0, 0.0]),
                entry("b", "q", [0.0, 1.0]),
                entry("c", "r", [0.6, 0.8]),
            ])
            .await
            .unwrap();

        index.delete("c", &["a".to_string()]).await.unwrap();

        assert_eq!(index.len("c").await.unwrap(), 2);
        let hits = index.search("c", &[vec![1.0, 0.0]], 1, -1.0).await.unwrap();
        assert_eq!(hits[0][0].face_id, "c");
        let hits = index.search("c", &[vec![0.0, 1.0]], 1, -1.0).await.unwrap();
        assert_eq!(hits[0][0].face_id, "b");
    }

    #[tokio::test]
    async fn collections_do_not_see_each_other() {
        let index = MemoryIndex::new();
        index.create_collection("c", 2).await.unwrap();
        index.create_collection("d", 2).await.unwrap();
        let mut other = entry("x", "p", [1.0, 0.0]);
        other.collection = "d".into();
        index.upsert(vec![other]).await.unwrap();

        let hits = index.search("c", &[vec![1.0, 0.0]], 1, -1.0).await.unwrap();
        assert!(hits[0].is_empty());
        let hits = index.search("d", &[vec![1.0, 0.0]], 1, -1.0).await.unwrap();
        assert_eq!(hits[0][0].face_id, "x");
        assert!(index.search("e", &[vec![1.0, 0.0]], 1, -1.0).await.is_err());
    }

    #[tokio::test]
    async fn upsert_of_a_known_face_replaces_its_vector() {
        let index = MemoryIndex::new();
        index.create_collection("c", 2).await.unwrap();
        index
            .upsert(vec![entry("a", "p", [1.0, 0.0])])
            .await
            .unwrap();
        index
            .upsert(vec![entry("a", "p", [0.0, 1.0])])
            .await
            .unwrap();

        assert_eq!(index.len("c").await.unwrap(), 1);
        let hits = index.search("c", &[vec![0.0, 1.0]], 1, 0.9).await.unwrap();
        assert_eq!(hits[0].len(), 1);
    }
}
