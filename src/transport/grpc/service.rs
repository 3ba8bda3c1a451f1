//! `facebank.v1.FaceService`: each handler reads the request, hands it to the
//! use case and builds the reply.

use std::sync::Arc;

use std::pin::Pin;

use futures::{Stream, StreamExt};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::{convert, pb};
use crate::{
    app::{
        FaceBank, FrameInput, Reference, RegistrationPart, RegistrationTarget, LIVE_REPLY_BUFFER,
    },
    error::Error,
};

pub struct FaceApi {
    bank: Arc<FaceBank>,
}

impl FaceApi {
    pub fn new(bank: Arc<FaceBank>) -> Self {
        FaceApi { bank }
    }
}

type Reply<T> = Result<Response<T>, Status>;

/// The replies of a bidirectional call.
type ReplyStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl pb::face_service_server::FaceService for FaceApi {
    async fn create_collection(
        &self,
        request: Request<pb::CreateCollectionRequest>,
    ) -> Reply<pb::CreateCollectionResponse> {
        let fields = request
            .into_inner()
            .collection
            .ok_or_else(|| Error::invalid("collection", "is required"))?;
        let model = fields.model.map(convert::model_spec).transpose()?;

        let collection = self
            .bank
            .create_collection(&fields.name, model, fields.threshold)
            .await?;

        Ok(Response::new(pb::CreateCollectionResponse {
            collection: Some(convert::collection(collection)),
        }))
    }

    async fn get_collection(
        &self,
        request: Request<pb::GetCollectionRequest>,
    ) -> Reply<pb::GetCollectionResponse> {
        let collection = self.bank.get_collection(&request.into_inner().name).await?;

        Ok(Response::new(pb::GetCollectionResponse {
            collection: Some(convert::collection(collection)),
        }))
    }

    async fn list_collections(
        &self,
        _request: Request<pb::ListCollectionsRequest>,
    ) -> Reply<pb::ListCollectionsResponse> {
        let collections = self.bank.list_collections().await?;

        Ok(Response::new(pb::ListCollectionsResponse {
            collections: collections.into_iter().map(convert::collection).collect(),
        }))
    }

    async fn delete_collection(
        &self,
        request: Request<pb::DeleteCollectionRequest>,
    ) -> Reply<pb::DeleteCollectionResponse> {
        let request = request.into_inner();
        let deleted = self
            .bank
            .delete_collection(&request.name, request.delete_persons)
            .await?;

        Ok(Response::new(pb::DeleteCollectionResponse {
            deleted_persons: i32::try_from(deleted).unwrap_or(i32::MAX),
        }))
    }

    async fn create_person(
        &self,
        request: Request<pb::CreatePersonRequest>,
    ) -> Reply<pb::CreatePersonResponse> {
        let fields = request
            .into_inner()
            .person
            .ok_or_else(|| Error::invalid("person", "is required"))?;

        let person = self
            .bank
            .create_person(convert::person_fields(fields))
            .await?;

        Ok(Response::new(pb::CreatePersonResponse {
            person: Some(convert::person(person)),
        }))
    }

    async fn get_person(
        &self,
        request: Request<pb::GetPersonRequest>,
    ) -> Reply<pb::GetPersonResponse> {
        let person = self.bank.get_person(&request.into_inner().id).await?;

        Ok(Response::new(pb::GetPersonResponse {
            person: Some(convert::person(person)),
        }))
    }

    async fn list_persons(
        &self,
        request: Request<pb::ListPersonsRequest>,
    ) -> Reply<pb::ListPersonsResponse> {
        let request = request.into_inner();

        let page = self
            .bank
            .list_persons(&request.collection, request.page_size, &request.page_token)
            .await?;

        Ok(Response::new(pb::ListPersonsResponse {
            persons: page.persons.into_iter().map(convert::person).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn update_person(
        &self,
        request: Request<pb::UpdatePersonRequest>,
    ) -> Reply<pb::UpdatePersonResponse> {
        let request = request.into_inner();
        let person = request
            .person
            .ok_or_else(|| Error::invalid("person", "is required"))?;
        let mask = convert::update_mask(request.update_mask)?;
        let id = person.id.clone();

        let updated = self
            .bank
            .update_person(&id, convert::person_fields(person), &mask)
            .await?;

        Ok(Response::new(pb::UpdatePersonResponse {
            person: Some(convert::person(updated)),
        }))
    }

    async fn delete_person(
        &self,
        request: Request<pb::DeletePersonRequest>,
    ) -> Reply<pb::DeletePersonResponse> {
        let deleted = self.bank.delete_person(&request.into_inner().id).await?;

        Ok(Response::new(pb::DeletePersonResponse {
            deleted_faces: deleted as i32,
        }))
    }

    async fn register_faces(
        &self,
        request: Request<pb::RegisterFacesRequest>,
    ) -> Reply<pb::RegisterFacesResponse> {
        let request = request.into_inner();
        let largest = convert::largest_face(request.face_selection)?;
        let target = match request.target {
            Some(pb::register_faces_request::Target::PersonId(id)) => {
                RegistrationTarget::Existing(id)
            }
            Some(pb::register_faces_request::Target::NewPerson(p)) => {
                RegistrationTarget::New(convert::person_fields(p))
            }
            None => return Err(Error::invalid("target", "name a person_id or a new_person").into()),
        };
        let images = request.images.into_iter().map(|i| i.content).collect();

        let registration = self.bank.register_faces(target, images, largest).await?;

        let (person, faces, rejected) = convert::registration(registration);
        Ok(Response::new(pb::RegisterFacesResponse {
            person,
            faces,
            rejected,
        }))
    }

    async fn list_faces(
        &self,
        request: Request<pb::ListFacesRequest>,
    ) -> Reply<pb::ListFacesResponse> {
        let faces = self
            .bank
            .list_faces(&request.into_inner().person_id)
            .await?;

        Ok(Response::new(pb::ListFacesResponse {
            faces: faces.into_iter().map(convert::face).collect(),
        }))
    }

    async fn delete_face(
        &self,
        request: Request<pb::DeleteFaceRequest>,
    ) -> Reply<pb::DeleteFaceResponse> {
        self.bank.delete_face(&request.into_inner().id).await?;

        Ok(Response::new(pb::DeleteFaceResponse {}))
    }

    async fn recognize(
        &self,
        request: Request<pb::RecognizeRequest>,
    ) -> Reply<pb::RecognizeResponse> {
        let request = request.into_inner();
        let image = convert::image("image", request.image)?;

        let recognition = self
            .bank
            .recognize(
                &request.collection,
                image,
                request.max_faces,
                request.top_k,
                request.min_similarity,
            )
            .await?;

        Ok(Response::new(pb::RecognizeResponse {
            faces: recognition
                .faces
                .into_iter()
                .map(convert::recognised_face)
                .collect(),
            threshold: recognition.threshold,
        }))
    }

    async fn verify(&self, request: Request<pb::VerifyRequest>) -> Reply<pb::VerifyResponse> {
        let request = request.into_inner();
        let image = convert::image("image", request.image)?;
        let reference = match request.reference {
            Some(pb::verify_request::Reference::OtherImage(other)) => {
                Reference::Image(other.content)
            }
            Some(pb::verify_request::Reference::PersonId(id)) => Reference::Person(id),
            None => {
                return Err(
                    Error::invalid("reference", "name an other_image or a person_id").into(),
                )
            }
        };

        let verification = self
            .bank
            .verify(&request.collection, image, reference, request.threshold)
            .await?;

        Ok(Response::new(pb::VerifyResponse {
            similarity: verification.similarity,
            same_person: verification.same_person,
            threshold: verification.threshold,
            matched_face_id: verification.matched_face_id.unwrap_or_default(),
        }))
    }

    async fn detect(&self, request: Request<pb::DetectRequest>) -> Reply<pb::DetectResponse> {
        let request = request.into_inner();
        let image = convert::image("image", request.image)?;

        let outcome = self.bank.detect(image, request.max_faces).await?;

        Ok(Response::new(pb::DetectResponse {
            faces: outcome.faces.iter().map(convert::detection).collect(),
            image_width: outcome.width as i32,
            image_height: outcome.height as i32,
        }))
    }

    async fn register_faces_stream(
        &self,
        request: Request<Streaming<pb::RegisterFacesStreamRequest>>,
    ) -> Reply<pb::RegisterFacesStreamResponse> {
        let parts = request
            .into_inner()
            .map(|message| registration_part(message?));

        let registration = self.bank.register_stream(parts).await?;

        let (person, faces, rejected) = convert::registration(registration);
        Ok(Response::new(pb::RegisterFacesStreamResponse {
            person,
            faces,
            rejected,
        }))
    }

    async fn recognize_clip(
        &self,
        request: Request<Streaming<pb::RecognizeClipRequest>>,
    ) -> Reply<pb::RecognizeClipResponse> {
        let (options, frames) = options_and_frames(request.into_inner()).await?;

        let clip = self
            .bank
            .recognize_clip(&options.collection, options.min_similarity, frames)
            .await?;

        Ok(Response::new(pb::RecognizeClipResponse {
            tracks: clip.tracks.into_iter().map(convert::clip_track).collect(),
            frames: clip.frames as i32,
            threshold: clip.threshold,
        }))
    }

    type RecognizeFramesStream = ReplyStream<pb::RecognizeFramesResponse>;

    async fn recognize_frames(
        &self,
        request: Request<Streaming<pb::RecognizeFramesRequest>>,
    ) -> Reply<Self::RecognizeFramesStream> {
        let messages = request.into_inner();

        // The reply headers go out at once: a live client may wait for them
        // before it sends its first frame, which carries the options.
        let (replies, receiver) = tokio::sync::mpsc::channel(LIVE_REPLY_BUFFER);
        let bank = self.bank.clone();
        tokio::spawn(async move {
            let (options, frames) = match options_and_frames(messages).await {
                Ok(parts) => parts,
                Err(status) => {
                    let _ = replies.send(Err(Error::from(status))).await;
                    return;
                }
            };
            let frames = Box::pin(frames);
            bank.recognize_live(
                &options.collection,
                options.min_similarity,
                options.drop_frames_when_busy,
                frames,
                replies,
            )
            .await;
        });

        let stream = ReceiverStream::new(receiver)
            .map(|reply| reply.map(convert::live_frame).map_err(Status::from));
        Ok(Response::new(Box::pin(stream)))
    }
}

/// A frame-carrying request message whose first instance also carries the
/// stream's options.
trait FrameMessage: Send + 'static {
    type Options: Default;
    fn into_parts(self) -> (Option<Self::Options>, Option<pb::Frame>);
}

impl FrameMessage for pb::RecognizeClipRequest {
    type Options = pb::ClipOptions;
    fn into_parts(self) -> (Option<pb::ClipOptions>, Option<pb::Frame>) {
        (self.options, self.frame)
    }
}

impl FrameMessage for pb::RecognizeFramesRequest {
    type Options = pb::LiveOptions;
    fn into_parts(self) -> (Option<pb::LiveOptions>, Option<pb::Frame>) {
        (self.options, self.frame)
    }
}

/// The options of the first message, and every message's frame.
async fn options_and_frames<M: FrameMessage>(
    mut messages: Streaming<M>,
) -> Result<
    (
        M::Options,
        impl Stream<Item = crate::error::Result<FrameInput>> + Send,
    ),
    Status,
> {
    let (options, first) = match messages.message().await? {
        Some(message) => {
            let (options, frame) = message.into_parts();
            (options.unwrap_or_default(), Some(frame))
        }
        None => (M::Options::default(), None),
    };
    let rest = messages.map(|message| message.map(|m| m.into_parts().1).map_err(Error::from));
    // A frame that cannot be read is named by its position in the stream
    // and its id, as the pipeline names a frame it cannot decode.
    let mut position = 0u64;
    let frames = futures::stream::iter(first.map(Ok))
        .chain(rest)
        .map(move |frame| {
            let frame = frame?;
            let at = position;
            position += 1;
            let id = frame
                .as_ref()
                .map(|f| f.frame_id.clone())
                .unwrap_or_default();
            convert::frame(frame).map_err(|e| e.in_frame(at, &id))
        });
    Ok((options, frames))
}

fn registration_part(
    message: pb::RegisterFacesStreamRequest,
) -> crate::error::Result<RegistrationPart> {
    match message.part {
        Some(pb::register_faces_stream_request::Part::Header(header)) => {
            let largest = convert::largest_face(header.face_selection)?;
            let target = convert::registration_target(header.target.map(|t| match t {
                pb::registration_header::Target::PersonId(id) => Ok(id),
                pb::registration_header::Target::NewPerson(p) => Err(p),
            }))?;
            Ok(RegistrationPart::Header { target, largest })
        }
        Some(pb::register_faces_stream_request::Part::Chunk(chunk)) => {
            Ok(RegistrationPart::Chunk {
                data: chunk.data,
                last: chunk.last,
            })
        }
        Some(pb::register_faces_stream_request::Part::Finish(_)) => Ok(RegistrationPart::Finish),
        None => Err(Error::invalid(
            "part",
            "a message must carry a header, a chunk or the finish",
        )),
    }
}
