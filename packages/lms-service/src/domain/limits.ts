/**
 * Every size and range limit of an LMS command, in one place. The codec refuses anything outside
 * them, so a command that reaches `apply` is always within bounds (and so is the store).
 */

/** Largest encoded command (one Raft entry); an upload chunk plus its base64 overhead fits. */
export const maxCommandBytes = 1024 * 1024;
/** Largest piece of an upload carried by one chunk entry (raw bytes, before base64). */
export const maxUploadChunkBytes = 512 * 1024;
/** Default largest file (the sum of an upload's chunks). */
export const defaultMaxFileBytes = 25 * 1024 * 1024;
/** Upper bound any configuration may raise the file limit to; the codec checks against it. */
export const maxFileBytesCeiling = 1024 * 1024 * 1024;
/** Most files one submission may carry. */
export const maxFilesPerSubmission = 10;

export const maxIdChars = 64;
export const minIdempotencyKeyChars = 8;
export const maxIdempotencyKeyChars = 128;
export const minUsernameChars = 3;
export const maxUsernameChars = 32;
export const maxDisplayNameChars = 100;
export const maxPasswordHashChars = 512;
export const minJoinCodeChars = 6;
export const maxJoinCodeChars = 16;
export const maxTokenIdChars = 128;
export const maxTitleChars = 200;
export const maxDescriptionChars = 20_000;
export const maxFeedbackChars = 10_000;
export const maxNoteChars = 10_000;
export const maxMaterialBodyChars = 50_000;
export const maxQuestionChars = 5_000;
export const maxAnswerChars = 10_000;
export const maxTutorPromptChars = 8_000;
export const maxTutorAnswerChars = 32_000;
export const maxModelNameChars = 100;
export const maxFileNameChars = 255;
export const maxMimeTypeChars = 127;
/** Largest `maxPoints` of an assignment. */
export const maxAssignmentPoints = 100_000;
/** Latest timestamp accepted (the largest valid JavaScript Date, in ms since the epoch). */
export const maxTimestampMs = 8_640_000_000_000_000;

/**
 * Idempotency records are kept by generation: a record's key starts with the command's stamped
 * time divided into spans of this length (idempotency-retention.ts). A retry within one span of
 * the first attempt always gets the first result, and a record is kept at least two spans, so 24
 * hours. Safe because clients retry a key within seconds to minutes (LmsClient, the web's upload
 * retries); a key reused after that is simply a new request.
 */
export const idempotencyGenerationMs = 12 * 60 * 60_000;
/**
 * Old idempotency records are pruned by the accepted commands whose log index is a multiple of
 * this, not by every command: a pruning pass costs a range read, and on every write it would be
 * paid on every node. Log indexes are the same on every replica, so every replica prunes at the
 * same commands.
 */
export const idempotencyPruneEveryEntries = 128;
/**
 * Most old idempotency records one pass deletes: the work of one apply stays bounded, and at most
 * one record is added per entry while a pass may remove this many per
 * {@link idempotencyPruneEveryEntries} entries, so a backlog (after a quiet day, say) shrinks.
 */
export const maxIdempotencyRecordsPrunedPerPass = 1024;
