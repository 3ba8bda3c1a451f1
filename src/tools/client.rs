//! Terminal commands that talk to a running facebank over gRPC.

use std::path::{Path, PathBuf};

use anyhow::Context;
use tonic::transport::Channel;
use tonic_types::StatusExt;

use crate::transport::grpc::pb::{self, face_service_client::FaceServiceClient};

#[derive(clap::Args)]
pub struct Server {
    /// The facebank gRPC address.
    #[arg(
        long,
        env = "FACEBANK_SERVER",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    pub server: String,
}

#[derive(clap::Subcommand)]
pub enum ClientCommand {
    /// Registers faces for a new person (--name) or an existing one (--person).
    Register {
        #[arg(long, required_unless_present = "person")]
        name: Option<String>,
        #[arg(long, conflicts_with = "name")]
        person: Option<String>,
        /// Take the largest face of each photo instead of requiring exactly one.
        #[arg(long)]
        largest: bool,
        #[arg(required = true)]
        photos: Vec<PathBuf>,
    },
    /// Recognises every face in a photo.
    Recognize {
        photo: PathBuf,
        #[arg(long, default_value_t = 1)]
        top_k: i32,
        #[arg(long)]
        min_similarity: Option<f32>,
    },
    /// Compares a photo with another photo or with a registered person.
    Verify {
        photo: PathBuf,
        #[arg(long, required_unless_present = "person")]
        with: Option<PathBuf>,
        #[arg(long, conflicts_with = "with")]
        person: Option<String>,
    },
    /// Lists the faces found in a photo.
    Detect { photo: PathBuf },
    /// Lists every registered person.
    Persons,
}

pub async fn run(server: Server, command: ClientCommand) -> anyhow::Result<()> {
    let mut client = FaceServiceClient::connect(server.server.clone())
        .await
        .with_context(|| format!("cannot reach facebank at {}", server.server))?
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20);
    call(&mut client, command).await
}

/// A failed call as the person at the terminal should read it.
fn explain(status: tonic::Status) -> anyhow::Error {
    let reason = status
        .get_error_details()
        .error_info()
        .map(|i| i.reason.clone())
        .unwrap_or_default();
    anyhow::anyhow!("{:?} {reason}: {}", status.code(), status.message())
}

async fn call(
    client: &mut FaceServiceClient<Channel>,
    command: ClientCommand,
) -> anyhow::Result<()> {
    match command {
        ClientCommand::Register {
            name,
            person,
            largest,
            photos,
        } => {
            let images = photos
                .iter()
                .map(|p| read(p))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let target = match person {
                Some(id) => pb::register_faces_request::Target::PersonId(id),
                None => pb::register_faces_request::Target::NewPerson(pb::Person {
                    name: name.unwrap_or_default(),
                    ..Default::default()
                }),
            };
            let selection = if largest {
                pb::FaceSelection::Largest
            } else {
                pb::FaceSelection::Single
            };
            let reply = client
                .register_faces(pb::RegisterFacesRequest {
                    target: Some(target),
                    images,
                    face_selection: selection as i32,
                })
                .await
                .map_err(explain)?
                .into_inner();
            let person = reply.person.unwrap_or_default();
            println!(
                "person {} ({}) now has {} faces",
                person.id, person.name, person.face_count
            );
            for face in reply.faces {
                println!("  added face {}", face.id);
            }
            for refused in reply.rejected {
                println!(
                    "  refused {}: {} {}",
                    photos[refused.image_index as usize].display(),
                    refused.reason,
                    refused.message
                );
            }
        }
        ClientCommand::Recognize {
            photo,
            top_k,
            min_similarity,
        } => {
            let image = read(&photo)?;
            let reply = client
                .recognize(pb::RecognizeRequest {
                    image: Some(image),
                    max_faces: 0,
                    top_k,
                    min_similarity,
                })
                .await
                .map_err(explain)?
                .into_inner();
            println!(
                "{} faces (threshold {:.3})",
                reply.faces.len(),
                reply.threshold
            );
            for (i, face) in reply.faces.iter().enumerate() {
                let b = face
                    .detection
                    .as_ref()
                    .and_then(|d| d.r#box)
                    .unwrap_or_default();
                print!(
                    "  face {i} at {:.0},{:.0} {:.0}x{:.0}: ",
                    b.x, b.y, b.width, b.height
                );
                if face.matches.is_empty() {
                    println!("unknown");
                }
                for m in &face.matches {
                    let p = m.person.clone().unwrap_or_default();
                    println!("{} ({}) similarity {:.3}", p.name, p.id, m.similarity);
                }
            }
        }
        ClientCommand::Verify {
            photo,
            with,
            person,
        } => {
            let image = read(&photo)?;
            let reference = match with {
                Some(other) => pb::verify_request::Reference::OtherImage(read(&other)?),
                None => pb::verify_request::Reference::PersonId(person.unwrap_or_default()),
            };
            let reply = client
                .verify(pb::VerifyRequest {
                    image: Some(image),
                    reference: Some(reference),
                    threshold: None,
                })
                .await
                .map_err(explain)?
                .into_inner();
            let verdict = if reply.same_person {
                "same person"
            } else {
                "different people"
            };
            println!(
                "{verdict}: similarity {:.3}, threshold {:.3}",
                reply.similarity, reply.threshold
            );
        }
        ClientCommand::Detect { photo } => {
            let image = read(&photo)?;
            let reply = client
                .detect(pb::DetectRequest {
                    image: Some(image),
                    max_faces: 0,
                })
                .await
                .map_err(explain)?
                .into_inner();
            println!(
                "{} faces in {}x{}",
                reply.faces.len(),
                reply.image_width,
                reply.image_height
            );
            for face in reply.faces {
                let b = face.r#box.unwrap_or_default();
                println!(
                    "  {:.0},{:.0} {:.0}x{:.0} score {:.3}",
                    b.x, b.y, b.width, b.height, face.score
                );
            }
        }
        ClientCommand::Persons => {
            let mut token = String::new();
            loop {
                let page = client
                    .list_persons(pb::ListPersonsRequest {
                        page_size: 500,
                        page_token: token,
                    })
                    .await
                    .map_err(explain)?
                    .into_inner();
                for p in page.persons {
                    println!(
                        "{}  {}  faces {}  {}",
                        p.id, p.name, p.face_count, p.external_id
                    );
                }
                if page.next_page_token.is_empty() {
                    break;
                }
                token = page.next_page_token;
            }
        }
    }
    Ok(())
}

fn read(path: &Path) -> anyhow::Result<pb::Image> {
    let content = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(pb::Image {
        content: content.into(),
    })
}
