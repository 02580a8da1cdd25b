/**
 * The tutor cannot answer right now: no model server answers, it answered with an error, or it
 * went silent. Maps to gRPC UNAVAILABLE; the message is meant for the user and says what to do.
 */
export class TutorUnavailableError extends Error {
  readonly code = "UNAVAILABLE";

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TutorUnavailableError";
  }
}

/** The question cannot be asked as given (empty or too long). Maps to gRPC INVALID_ARGUMENT. */
export class TutorRequestError extends Error {
  readonly code = "INVALID_ARGUMENT";

  constructor(message: string) {
    super(message);
    this.name = "TutorRequestError";
  }
}
