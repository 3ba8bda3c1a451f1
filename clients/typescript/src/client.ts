import { readFile } from "node:fs/promises";

import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";

import { toFacebankError } from "./errors.js";
import {
  FaceSelection,
  FaceService,
  FrameSchema,
  PersonSchema,
  RecognizeFramesRequestSchema,
  type Collection,
  type DetectResponse,
  type Person,
  type RecognizeFramesResponse,
  type RecognizeResponse,
  type RegisterFacesResponse,
  type VerifyResponse,
} from "./gen/facebank/v1/facebank_pb.js";

export const DEFAULT_BASE_URL = "http://127.0.0.1:50051";

/** A photo given by its file path or by its encoded bytes (JPEG, PNG, WebP, BMP). */
export type ImageSource = string | Uint8Array;

/** A frame: a photo, or a `Frame` message (raw pixels, or your own id and timestamp). */
export type FrameSource = ImageSource | MessageInitShape<typeof FrameSchema>;

/** Who `register` adds faces to: a new person (by name or with all fields) or an existing one. */
export type RegisterTarget =
  | { name: string }
  | { person: MessageInitShape<typeof PersonSchema> }
  | { personId: string };

/** What `verify` compares the photo with: another photo, or a registered person. */
export type VerifyReference = { otherPhoto: ImageSource } | { personId: string };

export interface RegisterOptions {
  /** Register the largest face of a photo that shows several, instead of refusing it. */
  largestFace?: boolean;
  /**
   * The collection a new person goes into; empty (the default) for `default`,
   * or with a `person` target, the person's own `collection`. An existing person
   * stays in their collection, so it cannot be given with `personId`.
   */
  collection?: string;
}

export interface RecognizeOptions {
  /** At most this many matches per face, best first (default 1). */
  topK?: number;
  /** At most this many faces, largest first; 0 (the default) for all. */
  maxFaces?: number;
  /** The match threshold for this call instead of the collection's (or the server's). */
  minSimilarity?: number;
  /** The collection to search; empty (the default) for `default`. */
  collection?: string;
}

export interface VerifyOptions {
  /** The match threshold for this call instead of the collection's (or the server's). */
  threshold?: number;
  /**
   * The collection whose model and threshold apply, and that a `personId`
   * reference must belong to; empty (the default) for `default`.
   */
  collection?: string;
}

export interface ListPersonsOptions {
  /** Persons per request; 0 (the default) for the server's default. */
  pageSize?: number;
  /** The collection to list; empty (the default) for `default`. */
  collection?: string;
}

export interface RecognizeFramesOptions {
  /** The match threshold for this stream instead of the collection's (or the server's). */
  minSimilarity?: number;
  /**
   * Skip frames that queue up while one is processed (each still gets a reply,
   * with `dropped` set) instead of slowing the sender.
   */
  dropFramesWhenBusy?: boolean;
  /** The collection to search; empty (the default) for `default`. */
  collection?: string;
}

export interface FacebankClientOptions {
  /** The server, `http://host:port` (plaintext HTTP/2) or `https://...`. */
  baseUrl?: string;
  /** A deadline for each unary call, in milliseconds; streams have none. */
  timeoutMs?: number;
}

/**
 * A connection to a facebank server over gRPC. Every method rejects with a
 * `FacebankError` when the call fails. The generated client, for the calls this
 * facade leaves out, is `raw`. Call `close()` when done.
 *
 * Persons live in collections, each searched on its own; the calls that take a
 * `collection` option use the collection `default` when it is left out.
 */
export class FacebankClient {
  readonly raw: Client<typeof FaceService>;
  private readonly sessions: Http2SessionManager;
  private readonly timeoutMs: number | undefined;

  constructor(options: FacebankClientOptions = {}) {
    const baseUrl = options.baseUrl ?? DEFAULT_BASE_URL;
    // Our own session manager, so that close() can end the HTTP/2 connection.
    this.sessions = new Http2SessionManager(baseUrl);
    const transport: Transport = createGrpcTransport({
      baseUrl,
      sessionManager: this.sessions,
    });
    this.raw = createClient(FaceService, transport);
    this.timeoutMs = options.timeoutMs;
  }

  /** Closes the connection; calls in flight fail. */
  close(): void {
    this.sessions.abort();
  }

  /**
   * Creates an empty collection, pinned to the model the server runs. The name
   * is 1 to 64 lower-case letters, digits and underscores, starting with a
   * letter; `threshold` is the match threshold of searches in it that give none
   * (left out: the server's configured threshold). Rejects with
   * `COLLECTION_EXISTS` when the name is taken, `INVALID_FIELD` for a malformed
   * name or a threshold outside [-1, 1].
   */
  async createCollection(name: string, options: { threshold?: number } = {}): Promise<Collection> {
    const request = { collection: { name, threshold: options.threshold } };
    const reply = await call(() => this.raw.createCollection(request, this.callOptions()));
    if (!reply.collection) throw new Error("CreateCollection replied without a collection");
    return reply.collection;
  }

  /** The collection with this name; rejects with `COLLECTION_NOT_FOUND` when there is none. */
  async getCollection(name: string): Promise<Collection> {
    const reply = await call(() => this.raw.getCollection({ name }, this.callOptions()));
    if (!reply.collection) throw new Error("GetCollection replied without a collection");
    return reply.collection;
  }

  /** Every collection, `default` included, by name. */
  async listCollections(): Promise<Collection[]> {
    const reply = await call(() => this.raw.listCollections({}, this.callOptions()));
    return reply.collections;
  }

  /**
   * Deletes a collection and resolves to how many persons went with it. A
   * collection that holds persons is deleted only with `deletePersons`, and
   * then with all its persons and faces; without it the call rejects with
   * `COLLECTION_NOT_EMPTY` and deletes nothing. Rejects with
   * `COLLECTION_NOT_FOUND` for an unknown name; `default` cannot be deleted.
   */
  async deleteCollection(name: string, options: { deletePersons?: boolean } = {}): Promise<number> {
    const request = { name, deletePersons: options.deletePersons ?? false };
    const reply = await call(() => this.raw.deleteCollection(request, this.callOptions()));
    return reply.deletedPersons;
  }

  /**
   * Registers one face from each photo, for a new person or an existing one.
   * A new person is created only if at least one face is accepted, in the
   * collection `collection` (left out: `default`).
   *
   * With `largestFace`, a photo showing several faces gives its largest one
   * instead of being refused. The reply lists the faces added and the photos
   * refused with their reasons (`NO_FACE`, `MULTIPLE_FACES`, `DUPLICATE_FACE`...).
   * It rejects (`INVALID_ARGUMENT`, reason `NO_FACE` and the like) when every
   * photo is refused, storing nothing, with `PERSON_NOT_FOUND` for an unknown
   * `personId`, and with `COLLECTION_NOT_FOUND` for an unknown `collection`.
   */
  async register(
    photos: Iterable<ImageSource>,
    target: RegisterTarget,
    options: RegisterOptions = {},
  ): Promise<RegisterFacesResponse> {
    const collection = options.collection ?? "";
    if (collection !== "" && "personId" in target) {
      throw new Error("collection is for a new person; an existing one keeps theirs");
    }
    const ownCollection = "person" in target ? (target.person.collection ?? "") : "";
    if (collection !== "" && ownCollection !== "" && ownCollection !== collection) {
      throw new Error(`collection "${collection}" differs from the person's "${ownCollection}"`);
    }
    const images = await Promise.all([...photos].map(async (photo) => ({ content: await read(photo) })));
    const faceSelection = options.largestFace ? FaceSelection.LARGEST : FaceSelection.SINGLE;
    const newPerson = (fields: MessageInitShape<typeof PersonSchema>) => {
      const person = create(PersonSchema, fields);
      if (collection !== "") person.collection = collection;
      return person;
    };
    const request =
      "personId" in target
        ? { target: { case: "personId" as const, value: target.personId } }
        : {
            target: {
              case: "newPerson" as const,
              value: newPerson("name" in target ? { name: target.name } : target.person),
            },
          };

    return call(() => this.raw.registerFaces({ ...request, images, faceSelection }, this.callOptions()));
  }

  /**
   * Finds every face in the photo, largest first, and the registered persons
   * of the collection each matches. A face matching nobody has no matches; a
   * photo with no face gives no faces (not an error). Rejects with
   * `COLLECTION_NOT_FOUND` for an unknown collection.
   */
  async recognize(photo: ImageSource, options: RecognizeOptions = {}): Promise<RecognizeResponse> {
    const request = {
      image: { content: await read(photo) },
      topK: options.topK ?? 1,
      maxFaces: options.maxFaces ?? 0,
      minSimilarity: options.minSimilarity,
      collection: options.collection ?? "",
    };
    return call(() => this.raw.recognize(request, this.callOptions()));
  }

  /**
   * Decides whether the largest face of the photo is the same person as the
   * largest face of another photo, or as a registered person (their most
   * similar face). Rejects with `NO_FACE` (and the like) when a photo has no
   * usable face, and with `PERSON_NOT_FOUND` when the person is not in the
   * collection.
   */
  async verify(
    photo: ImageSource,
    reference: VerifyReference,
    options: VerifyOptions = {},
  ): Promise<VerifyResponse> {
    const request = {
      image: { content: await read(photo) },
      reference:
        "personId" in reference
          ? { case: "personId" as const, value: reference.personId }
          : { case: "otherImage" as const, value: { content: await read(reference.otherPhoto) } },
      threshold: options.threshold,
      collection: options.collection ?? "",
    };
    return call(() => this.raw.verify(request, this.callOptions()));
  }

  /** Finds the faces in the photo (boxes, landmarks, scores); stores nothing. */
  async detect(photo: ImageSource, options: { maxFaces?: number } = {}): Promise<DetectResponse> {
    const request = { image: { content: await read(photo) }, maxFaces: options.maxFaces ?? 0 };
    return call(() => this.raw.detect(request, this.callOptions()));
  }

  /** The person with this id; rejects with `PERSON_NOT_FOUND` when there is none. */
  async getPerson(id: string): Promise<Person> {
    const reply = await call(() => this.raw.getPerson({ id }, this.callOptions()));
    if (!reply.person) throw new Error("GetPerson replied without a person");
    return reply.person;
  }

  /** Every person of a collection, in creation order, fetched a page at a time as iterated. */
  async *listPersons(options: ListPersonsOptions = {}): AsyncGenerator<Person> {
    const pageSize = options.pageSize ?? 0;
    const collection = options.collection ?? "";
    let pageToken = "";
    do {
      const page = await call(() =>
        this.raw.listPersons({ pageSize, pageToken, collection }, this.callOptions()),
      );
      yield* page.persons;
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
  }

  /**
   * Streams the frames of a live feed and yields one reply per frame, in order,
   * each with the frame's id and timestamp echoed and every face's track and
   * identity among the persons of `collection`. A photo's frame id is its
   * path, or its position in the stream for bytes. Frames are read as the
   * server is ready for them.
   *
   * With `dropFramesWhenBusy`, frames that queue up while one is processed are
   * skipped (each still gets a reply, with `dropped` set) instead of slowing
   * the sender. A frame that cannot be read (a missing file, say) ends the
   * stream with the reading error.
   */
  async *recognizeFrames(
    frames: Iterable<FrameSource> | AsyncIterable<FrameSource>,
    options: RecognizeFramesOptions = {},
  ): AsyncGenerator<RecognizeFramesResponse> {
    const liveOptions = {
      minSimilarity: options.minSimilarity,
      dropFramesWhenBusy: options.dropFramesWhenBusy ?? false,
      collection: options.collection ?? "",
    };
    // Connect reports a frame that could not be read as an INTERNAL error of
    // the call; keep the reading error itself to throw it instead.
    let readingFailed: { error: unknown } | undefined;
    async function* requests(): AsyncGenerator<MessageInitShape<typeof RecognizeFramesRequestSchema>> {
      try {
        let index = 0;
        for await (const frame of frames) {
          // The server reads the options from the first message only.
          yield { options: index === 0 ? liveOptions : undefined, frame: await toFrame(frame, index) };
          index += 1;
        }
      } catch (error) {
        readingFailed = { error };
        throw error;
      }
    }

    try {
      yield* this.raw.recognizeFrames(requests());
    } catch (error) {
      throw readingFailed ? readingFailed.error : toFacebankError(error);
    }
  }

  private callOptions(): { timeoutMs?: number } {
    return this.timeoutMs === undefined ? {} : { timeoutMs: this.timeoutMs };
  }
}

async function call<T>(send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (error) {
    throw toFacebankError(error);
  }
}

async function read(photo: ImageSource): Promise<Uint8Array> {
  return typeof photo === "string" ? readFile(photo) : photo;
}

async function toFrame(frame: FrameSource, index: number): Promise<MessageInitShape<typeof FrameSchema>> {
  if (typeof frame === "string") {
    return { frameId: frame, image: { case: "encoded", value: await read(frame) } };
  }
  if (frame instanceof Uint8Array) {
    return { frameId: String(index), image: { case: "encoded", value: frame } };
  }
  return frame;
}
