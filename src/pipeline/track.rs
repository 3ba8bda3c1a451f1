//! Face tracking across the frames of a video: a face keeps its track while
//! its box overlaps the track's last box, and a face that reappears after a
//! gap is re-attached to its old track by embedding similarity.

use super::{recognise::similarity, Embedding, Rect};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerConfig {
    /// Least overlap (IoU) between a box and a track's last box to continue it.
    pub min_iou: f32,
    /// Frames a track may go unseen and still be re-attached by similarity.
    pub max_gap: u64,
    /// Least embedding similarity to re-attach a face to a lost track, and to
    /// keep an overlapping face on its track when both embeddings are known
    /// (so a cut to another person at the same place starts a new track).
    pub min_similarity: f32,
}

#[derive(Debug, Clone)]
struct Track {
    id: u64,
    rect: Rect,
    last_frame: u64,
    /// The most recent embedding of this track's face, when one was computed.
    embedding: Option<Embedding>,
}

#[derive(Debug, Clone)]
pub struct Tracker {
    config: TrackerConfig,
    tracks: Vec<Track>,
    next_id: u64,
}

impl Tracker {
    pub fn new(config: TrackerConfig) -> Self {
        Tracker {
            config,
            tracks: Vec::new(),
            next_id: 1,
        }
    }

    /// Matches the boxes of frame `frame` to tracks seen in the previous frame,
    /// by overlap, best pairs first: the track id per box, or none.
    pub fn match_boxes(&self, frame: u64, boxes: &[Rect]) -> Vec<Option<u64>> {
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (b, rect) in boxes.iter().enumerate() {
            for (t, track) in self.tracks.iter().enumerate() {
                let iou = rect.iou(&track.rect);
                if track.last_frame + 1 >= frame && iou >= self.config.min_iou {
                    pairs.push((iou, b, t));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));

        let mut assigned = vec![None; boxes.len()];
        let mut taken = vec![false; self.tracks.len()];
        for (_, b, t) in pairs {
            if assigned[b].is_none() && !taken[t] {
                assigned[b] = Some(self.tracks[t].id);
                taken[t] = true;
            }
        }
        assigned
    }

    /// The embedding last recorded for a track.
    pub fn embedding(&self, track: u64) -> Option<&Embedding> {
        self.tracks
            .iter()
            .find(|t| t.id == track)
            .and_then(|t| t.embedding.as_ref())
    }

    /// Records frame `frame`: `matched` comes from [`Tracker::match_boxes`] and
    /// `embeddings` holds the faces embedded this frame (none for a face whose
    /// embedding was skipped). Returns the track id of every box.
    pub fn update(
        &mut self,
        frame: u64,
        boxes: &[Rect],
        mut matched: Vec<Option<u64>>,
        embeddings: &[Option<Embedding>],
    ) -> Vec<u64> {
        // An overlapping face that is clearly someone else starts a new track.
        for (slot, embedding) in matched.iter_mut().zip(embeddings) {
            if let (Some(track), Some(embedding)) = (*slot, embedding) {
                let known = self.embedding(track);
                if known.is_some_and(|k| similarity(k, embedding) < self.config.min_similarity) {
                    *slot = None;
                }
            }
        }

        let mut reattached: Vec<u64> = Vec::new();
        let mut ids = Vec::with_capacity(boxes.len());
        for ((rect, slot), embedding) in boxes.iter().zip(&matched).zip(embeddings) {
            let id = match slot {
                Some(id) => *id,
                None => match embedding
                    .as_ref()
                    .and_then(|e| self.lost_track_like(frame, e, &matched, &reattached))
                {
                    Some(id) => {
                        reattached.push(id);
                        id
                    }
                    None => self.start_track(*rect, frame),
                },
            };
            let track = self
                .tracks
                .iter_mut()
                .find(|t| t.id == id)
                .expect("track exists");
            track.rect = *rect;
            track.last_frame = frame;
            if let Some(embedding) = embedding {
                track.embedding = Some(embedding.clone());
            }
            ids.push(id);
        }

        let max_gap = self.config.max_gap;
        self.tracks.retain(|t| t.last_frame + max_gap >= frame);
        ids
    }

    /// The most similar track not seen this frame, if similar enough.
    fn lost_track_like(
        &self,
        frame: u64,
        embedding: &Embedding,
        matched: &[Option<u64>],
        reattached: &[u64],
    ) -> Option<u64> {
        self.tracks
            .iter()
            .filter(|t| t.last_frame < frame && t.last_frame + self.config.max_gap >= frame)
            .filter(|t| !matched.contains(&Some(t.id)) && !reattached.contains(&t.id))
            .filter_map(|t| Some((similarity(t.embedding.as_ref()?, embedding), t.id)))
            .filter(|(s, _)| *s >= self.config.min_similarity)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, id)| id)
    }

    fn start_track(&mut self, rect: Rect, frame: u64) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.tracks.push(Track {
            id,
            rect,
            last_frame: frame,
            embedding: None,
        });
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: TrackerConfig = TrackerConfig {
        min_iou: 0.3,
        max_gap: 5,
        min_similarity: 0.8,
    };

    fn rect(x: f32) -> Rect {
        Rect {
            x1: x,
            y1: 0.0,
            x2: x + 100.0,
            y2: 100.0,
        }
    }

    fn step(
        tracker: &mut Tracker,
        frame: u64,
        boxes: &[Rect],
        embeddings: &[Option<Embedding>],
    ) -> Vec<u64> {
        let matched = tracker.match_boxes(frame, boxes);
        tracker.update(frame, boxes, matched, embeddings)
    }

    #[test]
    fn a_moving_face_keeps_its_track_and_a_new_face_gets_a_new_one() {
        let mut tracker = Tracker::new(CONFIG);

        let first = step(&mut tracker, 0, &[rect(0.0)], &[None]);
        let second = step(&mut tracker, 1, &[rect(20.0), rect(500.0)], &[None, None]);

        assert_eq!(second[0], first[0]);
        assert_ne!(second[1], first[0]);
    }

    #[test]
    fn a_face_back_after_a_gap_is_reattached_by_similarity() {
        let mut tracker = Tracker::new(CONFIG);
        let face = vec![1.0, 0.0];
        let first = step(&mut tracker, 0, &[rect(0.0)], &[Some(face.clone())]);

        step(&mut tracker, 1, &[], &[]);
        let back = step(&mut tracker, 3, &[rect(600.0)], &[Some(face)]);
        let stranger = step(&mut tracker, 4, &[rect(300.0)], &[Some(vec![0.0, 1.0])]);

        assert_eq!(back, first);
        assert_ne!(stranger, first);
    }

    #[test]
    fn a_different_face_in_the_same_place_starts_a_new_track() {
        let mut tracker = Tracker::new(CONFIG);
        let first = step(&mut tracker, 0, &[rect(0.0)], &[Some(vec![1.0, 0.0])]);

        let cut = step(&mut tracker, 1, &[rect(0.0)], &[Some(vec![0.0, 1.0])]);

        assert_ne!(cut, first);
    }

    #[test]
    fn tracks_unseen_for_longer_than_the_gap_are_forgotten() {
        let mut tracker = Tracker::new(CONFIG);
        let face = vec![1.0, 0.0];
        let first = step(&mut tracker, 0, &[rect(0.0)], &[Some(face.clone())]);

        let later = step(&mut tracker, 10, &[rect(0.0)], &[Some(face)]);

        assert_ne!(later, first);
    }
}
