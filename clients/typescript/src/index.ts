export { Code } from "@connectrpc/connect";
export { FacebankClient, DEFAULT_BASE_URL } from "./client.js";
export type {
  FacebankClientOptions,
  FrameSource,
  ImageSource,
  ListPersonsOptions,
  RecognizeFramesOptions,
  RecognizeOptions,
  RegisterOptions,
  RegisterTarget,
  VerifyOptions,
  VerifyReference,
} from "./client.js";
export { FacebankError } from "./errors.js";
export type { FieldViolation } from "./errors.js";
export * from "./gen/facebank/v1/facebank_pb.js";
