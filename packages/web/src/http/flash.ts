import type { FastifyReply, FastifyRequest } from "fastify";

/** The cookie carrying a one-time message across a redirect. */
export const flashCookieName = "lectern_flash";
/** Longest flash text kept (cookies are small). */
export const maxFlashChars = 400;

export interface Flash {
  readonly kind: "success" | "error";
  readonly text: string;
}

/** Remembers a message for the next page this browser opens (signed, so it cannot be forged). */
export function setFlash(reply: FastifyReply, flash: Flash): void {
  const value = JSON.stringify({ kind: flash.kind, text: flash.text.slice(0, maxFlashChars) });
  reply.setCookie(flashCookieName, value, {
    path: "/",
    httpOnly: true,
    sameSite: "strict",
    secure: "auto",
    signed: true,
    maxAge: 60,
  });
}

/** Reads and clears the pending message, if any. */
export function takeFlash(request: FastifyRequest, reply: FastifyReply): Flash | undefined {
  const cookie = request.cookies[flashCookieName];
  if (cookie === undefined) return undefined;
  reply.clearCookie(flashCookieName, { path: "/" });
  const unsigned = reply.unsignCookie(cookie);
  if (!unsigned.valid || unsigned.value === null) return undefined;
  try {
    const parsed = JSON.parse(unsigned.value) as { kind?: unknown; text?: unknown };
    if ((parsed.kind !== "success" && parsed.kind !== "error") || typeof parsed.text !== "string") return undefined;
    return { kind: parsed.kind, text: parsed.text };
  } catch {
    return undefined;
  }
}
