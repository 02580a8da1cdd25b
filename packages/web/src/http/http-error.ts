/** A failure the web front itself decides on (wrong role, unknown page, bad form), shown as a page. */
export class HttpError extends Error {
  override readonly name = "HttpError";
  constructor(
    readonly statusCode: number,
    readonly title: string,
    message: string,
  ) {
    super(message);
  }
}

/** 403: signed in, but this role may not use the page. */
export function forbidden(message = "Your account cannot open this page."): HttpError {
  return new HttpError(403, "Not allowed", message);
}

/** 400: the form was filled in wrongly. */
export function badRequest(message: string): HttpError {
  return new HttpError(400, "Please check the form", message);
}

/** 404: no such page or object. */
export function notFound(message = "There is nothing at this address."): HttpError {
  return new HttpError(404, "Not found", message);
}
