import { describe, expect, test } from "vitest";
import { escapeHtml, html, path, raw } from "../src/html.js";

describe("html template", () => {
  test("escapes every interpolated value, in text and attributes", () => {
    const payload = `<script>alert("x")</script>' onmouseover='x' \``;
    const out = html`<p title="${payload}">${payload}</p>`.value;
    expect(out).not.toContain("<script>");
    expect(out).not.toMatch(/title="[^"]*"[^>]*onmouseover/);
    expect(out).toBe(
      `<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; onmouseover=&#39;x&#39; &#96;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; onmouseover=&#39;x&#39; &#96;</p>`,
    );
  });

  test("nests html fragments and arrays without escaping them twice", () => {
    const items = ["a&b", "<c>"];
    expect(html`<ul>${items.map((item) => html`<li>${item}</li>`)}</ul>`.value).toBe(
      "<ul><li>a&amp;b</li><li>&lt;c&gt;</li></ul>",
    );
  });

  test("renders nothing for undefined, null and false but keeps 0", () => {
    expect(html`[${undefined}${null}${false}${0}]`.value).toBe("[0]");
  });

  test("raw passes trusted markup through unchanged", () => {
    expect(html`<p>${raw("<b>ok</b>")}</p>`.value).toBe("<p><b>ok</b></p>");
    expect(escapeHtml("&amp;")).toBe("&amp;amp;");
  });

  test("path encodes each value as one segment", () => {
    expect(path`/courses/${"../admin"}/grades.csv`).toBe("/courses/..%2Fadmin/grades.csv");
    expect(path`/files/${"a?b#c"}`).toBe("/files/a%3Fb%23c");
  });
});
