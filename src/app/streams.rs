//! The streaming use cases: registration from many photos, recognition of a
//! clip, recognition of a live feed. Each consumes a stream of domain inputs;
//! the transport turns its messages into them.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    time::Duration,
};

use bytes::{Bytes, BytesMut};
use futures::{FutureExt, Stream, StreamExt};
use tokio::sync::mpsc;

use super::{recognition::Match, FaceBank, Registration, RegistrationTarget};
use crate::{
    config::StreamingConfig,
    domain::Person,
    error::{Error, Reason, Result},
    pipeline::{
        track::{Tracker, TrackerConfig},
        Detection, Embedding, FrameImage, Rect, Selection,
    },
    ports::index::Hit,
};

/// One message of a streamed registration.
pub enum RegistrationPart {
    Header {
        target: RegistrationTarget,
        largest: bool,
    },
    Chunk {
        data: Bytes,
        last: bool,
    },
    /// Commits the registration; nothing may follow.
    Finish,
}

/// One video frame and the caller's names for it.
pub struct FrameInput {
    pub frame_id: String,
    pub timestamp_ms: i64,
    pub image: FrameImage,
}

/// A face followed through a clip, with the identity its frames agreed on.
pub struct ClipTrack {
    pub track_id: u64,
    pub first_frame: u64,
    pub last_frame: u64,
    pub first_frame_id: String,
    pub last_frame_id: String,
    pub frames: u32,
    pub identity: Option<Match>,
    pub agreeing_frames: u32,
}

pub struct ClipRecognition {
    pub tracks: Vec<ClipTrack>,
    pub frames: u64,
    pub threshold: f32,
}

pub struct LiveFace {
    pub detection: Detection,
    pub track_id: u64,
    pub identity: Option<Match>,
    /// Embedded in this frame rather than carried over from the track.
    pub embedded: bool,
}

pub struct LiveFrame {
    pub frame_id: String,
    pub timestamp_ms: i64,
    pub index: u64,
    pub dropped: bool,
    pub faces: Vec<LiveFace>,
}

/// Replies buffered for a slow reader before the stream waits for it.
pub const LIVE_REPLY_BUFFER: usize = 4;

/// Frame count and duration of one stream, against the configured limits.
struct Budget {
    frames: u64,
    max_frames: u64,
    deadline: tokio::time::Instant,
    max_duration: Duration,
}

impl Budget {
    fn new(config: &StreamingConfig) -> Self {
        let max_duration = Duration::from_secs(config.max_duration_secs);
        Budget {
            frames: 0,
            max_frames: config.max_frames,
            deadline: tokio::time::Instant::now() + max_duration,
            max_duration,
        }
    }

    /// Counts one more frame; its index.
    fn admit(&mut self) -> Result<u64> {
        if self.frames >= self.max_frames {
            return Err(Error::LimitExceeded(format!(
                "a stream may carry at most {} frames",
                self.max_frames
            )));
        }
        self.frames += 1;
        Ok(self.frames - 1)
    }

    /// The next item, or an error once the stream has lasted too long.
    async fn next<S, T>(&self, stream: &mut S) -> Result<Option<T>>
    where
        S: Stream<Item = Result<T>> + Unpin,
    {
        match tokio::time::timeout_at(self.deadline, stream.next()).await {
            Ok(item) => item.transpose(),
            Err(_) => Err(Error::LimitExceeded(format!(
                "a stream may last at most {} s",
                self.max_duration.as_secs()
            ))),
        }
    }
}

impl FaceBank {
    /// A registration streamed as a header, image chunks and a finish message.
    /// Nothing is stored unless the finish message arrives after complete
    /// images: a client that is cut off may still end its stream cleanly, so
    /// the end of the stream alone proves nothing.
    pub async fn register_stream<S>(&self, mut parts: S) -> Result<Registration>
    where
        S: Stream<Item = Result<RegistrationPart>> + Unpin,
    {
        let limits = self.config.streaming;
        let max_bytes = self.config.images.max_bytes;
        let Some(RegistrationPart::Header { target, largest }) = parts.next().await.transpose()?
        else {
            return Err(Error::invalid(
                "header",
                "the first message of the stream must be the header",
            ));
        };
        let mut pending = self.begin_registration(target, largest).await?;

        let mut image = BytesMut::new();
        let mut in_image = false;
        loop {
            let (data, last) = match parts.next().await.transpose()? {
                Some(RegistrationPart::Chunk { data, last }) => (data, last),
                Some(RegistrationPart::Finish) => break,
                Some(RegistrationPart::Header { .. }) => {
                    return Err(Error::invalid(
                        "header",
                        "only the first message may be the header",
                    ))
                }
                None => {
                    return Err(Error::invalid(
                        "finish",
                        "the stream ended without a finish message; nothing was registered",
                    ))
                }
            };
            if image.len() + data.len() > max_bytes {
                return Err(Error::bad_image(
                    Reason::ImageTooLarge,
                    format!("image {} is over {max_bytes} bytes", pending.images()),
                ));
            }
            image.extend_from_slice(&data);
            in_image = !last;
            if last {
                if pending.images() >= limits.max_images {
                    return Err(Error::LimitExceeded(format!(
                        "a streamed registration may carry at most {} images",
                        limits.max_images
                    )));
                }
                self.add_image(&mut pending, image.split().freeze()).await?;
            }
        }
        if in_image {
            return Err(Error::invalid(
                "finish",
                "the last image has no chunk with `last` set",
            ));
        }
        if parts.next().await.is_some() {
            return Err(Error::invalid(
                "finish",
                "nothing may follow the finish message",
            ));
        }
        self.commit_registration(pending).await
    }

    /// Tracks the faces of a clip and decides each track's identity over all
    /// its frames.
    pub async fn recognize_clip<S>(
        &self,
        collection: &str,
        min_similarity: Option<f32>,
        mut frames: S,
    ) -> Result<ClipRecognition>
    where
        S: Stream<Item = Result<FrameInput>> + Unpin,
    {
        let collection = self.collection_in("options.collection", collection).await?;
        let threshold = self.threshold_in(&collection, "min_similarity", min_similarity)?;
        let mut budget = Budget::new(&self.config.streaming);
        let mut tracker = Tracker::new(self.tracker_config());
        let mut logs: BTreeMap<u64, TrackLog> = BTreeMap::new();

        while let Some(frame) = budget.next(&mut frames).await? {
            let index = budget.admit()?;
            let image = self
                .pipeline
                .frame_pixels(frame.image)
                .await
                .map_err(|e| e.in_frame(index, &frame.frame_id))?;
            let faces = self
                .pipeline
                .embed_faces(&image, Selection::All { max_faces: 0 })
                .await?;

            let boxes: Vec<Rect> = faces.iter().map(|f| f.detection.rect).collect();
            let embeddings: Vec<Option<Embedding>> =
                faces.iter().map(|f| Some(f.embedding.clone())).collect();
            let matched = tracker.match_boxes(index, &boxes);
            let ids = tracker.update(index, &boxes, matched, &embeddings);
            let queries: Vec<Embedding> = faces.into_iter().map(|f| f.embedding).collect();
            let hits = self
                .index
                .search(&collection.name, &queries, 1, threshold)
                .await?;

            for (id, hit) in ids.into_iter().zip(hits) {
                logs.entry(id)
                    .or_insert_with(|| TrackLog::new(index, &frame.frame_id))
                    .record(index, &frame.frame_id, hit.into_iter().next());
            }
        }

        let wanted: Vec<String> = logs
            .values()
            .filter_map(|l| l.winner().map(|w| w.0.clone()))
            .collect();
        let persons = self.persons_by_id(&wanted).await?;
        let tracks = logs
            .into_iter()
            .map(|(id, log)| log.summary(id, &persons))
            .collect();
        Ok(ClipRecognition {
            tracks,
            frames: budget.frames,
            threshold,
        })
    }

    /// Answers each frame of a live feed in order on `replies`. A tracked face
    /// whose identity is known is embedded again only every
    /// `recheck_interval` frames or when its box has moved; detection runs on
    /// every frame. With `drop_when_busy`, frames that queued up while one was
    /// processed are answered as dropped, all but the newest.
    pub async fn recognize_live<S>(
        &self,
        collection: &str,
        min_similarity: Option<f32>,
        drop_when_busy: bool,
        mut frames: S,
        replies: mpsc::Sender<Result<LiveFrame>>,
    ) where
        S: Stream<Item = Result<FrameInput>> + Unpin,
    {
        let outcome = async {
            let collection = self.collection_in("options.collection", collection).await?;
            let threshold = self.threshold_in(&collection, "min_similarity", min_similarity)?;
            let mut budget = Budget::new(&self.config.streaming);
            let mut session = LiveSession::new(self.tracker_config(), collection.name, threshold);

            while let Some(mut frame) = budget.next(&mut frames).await? {
                let mut ended = false;
                while drop_when_busy {
                    match frames.next().now_or_never() {
                        Some(Some(newer)) => {
                            let dropped = LiveFrame::dropped(frame, budget.admit()?);
                            if replies.send(Ok(dropped)).await.is_err() {
                                return Ok(());
                            }
                            frame = newer?;
                        }
                        Some(None) => {
                            ended = true;
                            break;
                        }
                        None => break,
                    }
                }

                let index = budget.admit()?;
                let reply = self.live_frame(&mut session, index, frame).await?;
                if replies.send(Ok(reply)).await.is_err() || ended {
                    return Ok(());
                }
            }
            Ok(())
        };
        if let Err(error) = outcome.await {
            let _ = replies.send(Err(error)).await;
        }
    }

    async fn live_frame(
        &self,
        session: &mut LiveSession,
        index: u64,
        frame: FrameInput,
    ) -> Result<LiveFrame> {
        let streaming = self.config.streaming;
        let image = self
            .pipeline
            .frame_pixels(frame.image)
            .await
            .map_err(|e| e.in_frame(index, &frame.frame_id))?;
        let detections = self.pipeline.detect(&image).await?;
        let boxes: Vec<Rect> = detections.iter().map(|d| d.rect).collect();
        let matched = session.tracker.match_boxes(index, &boxes);

        let stale = |slot: &Option<u64>, rect: &Rect| match slot
            .and_then(|id| session.identities.get(&id))
        {
            None => true,
            Some(known) => {
                index >= known.embedded_at + streaming.recheck_interval
                    || known.embedded_rect.iou(rect) < streaming.recheck_min_iou
            }
        };
        let to_embed: Vec<usize> = (0..boxes.len())
            .filter(|&i| stale(&matched[i], &boxes[i]))
            .collect();
        let chosen: Vec<Detection> = to_embed.iter().map(|&i| detections[i].clone()).collect();
        let embedded = self.pipeline.embed(&image, chosen).await?;
        let mut embeddings: Vec<Option<Embedding>> = vec![None; boxes.len()];
        for (&i, face) in to_embed.iter().zip(&embedded) {
            embeddings[i] = Some(face.embedding.clone());
        }

        let ids = session.tracker.update(index, &boxes, matched, &embeddings);
        let queries: Vec<Embedding> = embedded.into_iter().map(|f| f.embedding).collect();
        let hits = self
            .index
            .search(&session.collection, &queries, 1, session.threshold)
            .await?;
        for (&i, hit) in to_embed.iter().zip(hits) {
            let identity = Identity {
                hit: hit.into_iter().next(),
                embedded_at: index,
                embedded_rect: boxes[i],
                seen_at: index,
            };
            session.identities.insert(ids[i], identity);
        }
        for id in &ids {
            if let Some(identity) = session.identities.get_mut(id) {
                identity.seen_at = index;
            }
        }
        session
            .identities
            .retain(|_, i| i.seen_at + streaming.track_max_gap >= index);

        let wanted: Vec<String> = ids
            .iter()
            .filter_map(|id| {
                session
                    .identities
                    .get(id)?
                    .hit
                    .as_ref()
                    .map(|h| h.person_id.clone())
            })
            .collect();
        let persons = self.persons_by_id(&wanted).await?;
        let faces = detections
            .into_iter()
            .zip(&ids)
            .enumerate()
            .map(|(i, (detection, &track_id))| {
                let hit = session
                    .identities
                    .get(&track_id)
                    .and_then(|known| known.hit.as_ref());
                let identity = hit.and_then(|h| {
                    let person = persons.get(&h.person_id)?.clone();
                    Some(Match {
                        person,
                        face_id: h.face_id.clone(),
                        similarity: h.similarity,
                    })
                });
                LiveFace {
                    detection,
                    track_id,
                    identity,
                    embedded: to_embed.contains(&i),
                }
            })
            .collect();

        Ok(LiveFrame {
            frame_id: frame.frame_id,
            timestamp_ms: frame.timestamp_ms,
            index,
            dropped: false,
            faces,
        })
    }

    fn tracker_config(&self) -> TrackerConfig {
        let s = &self.config.streaming;
        TrackerConfig {
            min_iou: s.track_min_iou,
            max_gap: s.track_max_gap,
            min_similarity: s.track_min_similarity,
        }
    }

    async fn persons_by_id(&self, ids: &[String]) -> Result<HashMap<String, Person>> {
        let unique: Vec<String> = ids
            .iter()
            .cloned()
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if unique.is_empty() {
            return Ok(HashMap::new());
        }
        Ok(self
            .records
            .persons(&unique)
            .await?
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect())
    }
}

impl LiveFrame {
    fn dropped(frame: FrameInput, index: u64) -> LiveFrame {
        LiveFrame {
            frame_id: frame.frame_id,
            timestamp_ms: frame.timestamp_ms,
            index,
            dropped: true,
            faces: Vec::new(),
        }
    }
}

struct LiveSession {
    tracker: Tracker,
    collection: String,
    threshold: f32,
    identities: HashMap<u64, Identity>,
}

impl LiveSession {
    fn new(config: TrackerConfig, collection: String, threshold: f32) -> Self {
        LiveSession {
            tracker: Tracker::new(config),
            collection,
            threshold,
            identities: HashMap::new(),
        }
    }
}

/// What the last embedding of a track found.
struct Identity {
    hit: Option<Hit>,
    embedded_at: u64,
    embedded_rect: Rect,
    seen_at: u64,
}

/// The frames of one clip track and the votes of their best matches.
struct TrackLog {
    first_frame: u64,
    first_frame_id: String,
    last_frame: u64,
    last_frame_id: String,
    frames: u32,
    /// Per person: frames whose best match they were, the sum of those
    /// similarities, and their most similar face.
    votes: HashMap<String, Vote>,
}

#[derive(Default)]
struct Vote {
    frames: u32,
    similarity_sum: f32,
    best: Option<Hit>,
}

impl TrackLog {
    fn new(frame: u64, frame_id: &str) -> Self {
        TrackLog {
            first_frame: frame,
            first_frame_id: frame_id.to_string(),
            last_frame: frame,
            last_frame_id: frame_id.to_string(),
            frames: 0,
            votes: HashMap::new(),
        }
    }

    fn record(&mut self, frame: u64, frame_id: &str, best: Option<Hit>) {
        self.frames += 1;
        self.last_frame = frame;
        self.last_frame_id = frame_id.to_string();
        if let Some(hit) = best {
            let vote = self.votes.entry(hit.person_id.clone()).or_default();
            vote.frames += 1;
            vote.similarity_sum += hit.similarity;
            if vote
                .best
                .as_ref()
                .is_none_or(|b| hit.similarity > b.similarity)
            {
                vote.best = Some(hit);
            }
        }
    }

    /// The person most frames matched; ties go to the higher total similarity.
    fn winner(&self) -> Option<(&String, &Vote)> {
        self.votes.iter().max_by(|a, b| {
            a.1.frames
                .cmp(&b.1.frames)
                .then(a.1.similarity_sum.total_cmp(&b.1.similarity_sum))
        })
    }

    fn summary(self, track_id: u64, persons: &HashMap<String, Person>) -> ClipTrack {
        let winner = self.winner().and_then(|(person_id, vote)| {
            let person = persons.get(person_id)?.clone();
            let best = vote.best.as_ref()?;
            let mean = vote.similarity_sum / vote.frames as f32;
            Some((
                Match {
                    person,
                    face_id: best.face_id.clone(),
                    similarity: mean,
                },
                vote.frames,
            ))
        });
        let (identity, agreeing_frames) = match winner {
            Some((m, frames)) => (Some(m), frames),
            None => (None, 0),
        };
        ClipTrack {
            track_id,
            first_frame: self.first_frame,
            last_frame: self.last_frame,
            first_frame_id: self.first_frame_id,
            last_frame_id: self.last_frame_id,
            frames: self.frames,
            identity,
            agreeing_frames,
        }
    }
}
