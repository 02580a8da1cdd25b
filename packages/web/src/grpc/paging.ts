/** Items asked for per page: lms.proto's largest page. */
export const listPageSize = 500;
/** Pages followed before a list is cut short (100,000 items: far beyond what a page shows). */
export const maxListPages = 200;

/** One page of a list RPC. */
export interface ListPage<T> {
  readonly items: readonly T[];
  readonly nextPageToken: string;
}

/**
 * Follows a list RPC's page tokens and returns every item, up to {@link maxListPages} pages. A
 * token that repeats ends the walk too, so a misbehaving server cannot loop it forever.
 */
export async function collectPages<T>(
  fetchPage: (request: { pageSize: number; pageToken: string }) => Promise<ListPage<T>>,
): Promise<T[]> {
  const items: T[] = [];
  const seenTokens = new Set<string>();
  let pageToken = "";
  for (let page = 0; page < maxListPages; page++) {
    const result = await fetchPage({ pageSize: listPageSize, pageToken });
    items.push(...result.items);
    if (result.nextPageToken === "" || seenTokens.has(result.nextPageToken)) break;
    seenTokens.add(result.nextPageToken);
    pageToken = result.nextPageToken;
  }
  return items;
}
