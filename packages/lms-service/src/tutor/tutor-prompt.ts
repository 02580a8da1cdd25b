/** Longest question a student may ask, in characters. */
export const MAX_QUESTION_CHARS = 4_000;
/** Course material beyond this many characters is cut before it grounds a question (small models have small contexts). */
export const MAX_GROUNDING_CHARS = 12_000;

/** What the student asks, optionally about one course material. */
export interface TutorQuestion {
  readonly question: string;
  readonly courseTitle?: string;
  /** The text of a course material the answer should rely on. */
  readonly material?: { readonly title: string; readonly text: string };
}

/** One message of an Ollama chat. */
export interface ChatMessage {
  readonly role: "system" | "user";
  readonly content: string;
}

/**
 * The chat messages for a question: a system message that sets the tutor's role (explain, do not
 * hand out graded answers) and, when a material is given, tells it to ground the answer in it.
 */
export function tutorMessages(question: TutorQuestion): ChatMessage[] {
  const course = question.courseTitle === undefined ? "" : ` for the course "${question.courseTitle}"`;
  let system =
    `You are a patient teaching assistant${course}. Explain concepts step by step and check understanding. ` +
    "Do not write graded work for the student; guide them to the answer instead. Keep answers concise.";
  if (question.material !== undefined) {
    const text = question.material.text.slice(0, MAX_GROUNDING_CHARS);
    const cut = question.material.text.length > MAX_GROUNDING_CHARS ? "\n[material shortened]" : "";
    system +=
      `\n\nBase your answer on the course material "${question.material.title}" below. ` +
      "If it does not cover the question, say so.\n\n<material>\n" +
      `${text}${cut}\n</material>`;
  }
  return [
    { role: "system", content: system },
    { role: "user", content: question.question },
  ];
}
