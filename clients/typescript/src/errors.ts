import { Code, ConnectError } from "@connectrpc/connect";

import {
  BadRequestSchema,
  ErrorInfoSchema,
} from "./gen/google/rpc/error_details_pb.js";

/** One entry of the error's `google.rpc.BadRequest`: a field that was wrong. */
export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

/**
 * A failed facebank call: the gRPC code, the server's sentence, and the
 * `google.rpc.ErrorInfo` reason a program can switch on, such as `NO_FACE`
 * or `PERSON_NOT_FOUND`.
 */
export class FacebankError extends Error {
  override readonly name = "FacebankError";
  /** The gRPC status code (`Code.InvalidArgument`, `Code.NotFound`, ...). */
  readonly code: Code;
  /** The server's explanation, without the code. */
  readonly serverMessage: string;
  /**
   * The ErrorInfo reason; undefined when the server sent none (for example when
   * the call never reached facebank: connection refused, deadline exceeded).
   */
  readonly reason: string | undefined;
  /** The ErrorInfo domain, `facebank.v1` for facebank's own reasons. */
  readonly domain: string | undefined;
  readonly metadata: Readonly<Record<string, string>>;
  readonly fieldViolations: readonly FieldViolation[];

  constructor(cause: ConnectError) {
    const info = cause.findDetails(ErrorInfoSchema)[0];
    const badRequests = cause.findDetails(BadRequestSchema);
    const reason = info?.reason;
    super(`${Code[cause.code]}: ${cause.rawMessage}${reason ? ` [${reason}]` : ""}`, {
      cause,
    });
    this.code = cause.code;
    this.serverMessage = cause.rawMessage;
    this.reason = reason;
    this.domain = info?.domain;
    this.metadata = { ...info?.metadata };
    this.fieldViolations = badRequests.flatMap((request) =>
      request.fieldViolations.map(({ field, description }) => ({ field, description })),
    );
  }
}

/** The FacebankError for anything a Connect call threw; other errors unchanged. */
export function toFacebankError(error: unknown): unknown {
  return error instanceof ConnectError ? new FacebankError(error) : error;
}
