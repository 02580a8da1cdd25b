import { status } from "@grpc/grpc-js";

/** Items asked for per page: lms.proto's largest page. */
export const listPageSize = 500;
/** Pages followed before a list is cut short (100,000 items: far beyond what a page shows). */
export const maxListPages = 200;

/** One page of a list RPC. */
export interface ListPage<T> {
  readonly items: readonly T[];
  readonly nextPageToken: string;
}

/** Whether a failed page was refused for its size (the client's message limit, 4 MiB). */
function isTooLarge(error: unknown): boolean {
  return (
    typeof error === "object" && error !== null && (error as { code?: unknown }).code === status.RESOURCE_EXHAUSTED
  );
}

/**
 * Follows a list RPC's page tokens and returns every item, up to {@link maxListPages} pages. A
 * token that repeats ends the walk too, so a misbehaving server cannot loop it forever.
 *
 * A page of {@link listPageSize} long items (10,000-character notes, 50,000-character materials)
 * can exceed one client API message, which fails with RESOURCE_EXHAUSTED; the same page is then
 * asked for again at half the size, and the walk goes on at that size. A single item too large
 * for a message, or any other failure, is thrown as it came.
 */
export async function collectPages<T>(
  fetchPage: (request: { pageSize: number; pageToken: string }) => Promise<ListPage<T>>,
): Promise<T[]> {
  const items: T[] = [];
  const seenTokens = new Set<string>();
  let pageToken = "";
  let pageSize = listPageSize;
  // At most log2(listPageSize) halvings for the whole walk, so this loop is bounded too.
  const fetchFitting = async (): Promise<ListPage<T>> => {
    for (;;) {
      try {
        return await fetchPage({ pageSize, pageToken });
      } catch (error) {
        if (!isTooLarge(error) || pageSize === 1) throw error;
        pageSize = Math.ceil(pageSize / 2);
      }
    }
  };
  for (let page = 0; page < maxListPages; page++) {
    const result = await fetchFitting();
    items.push(...result.items);
    if (result.nextPageToken === "" || seenTokens.has(result.nextPageToken)) break;
    seenTokens.add(result.nextPageToken);
    pageToken = result.nextPageToken;
  }
  return items;
}
