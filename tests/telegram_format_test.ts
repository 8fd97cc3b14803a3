/**
 * Markdown to Telegram HTML, and long replies split into messages: each construct converted, text
 * and code escaped, markers that do not pair left as text, links limited to safe schemes, and
 * every chunk balanced, within Telegram's limit, in order, with no character cut in half.
 */
import assert from "node:assert/strict";
import {
  htmlToPlainText,
  markdownChunks,
  markdownToTelegramHtml as html,
  plainText,
  renderTelegram,
  splitForTelegram,
  TELEGRAM_TEXT_LIMIT,
  visibleLength,
} from "../src/channels/telegram/format.ts";
import { parseHtml } from "./_servers/telegram_html.ts";

const TAGS = new Set(
  "b strong i em u ins s strike del tg-spoiler span a code pre blockquote".split(" "),
);

/** Asserts `markup` is Telegram HTML: known tags, properly nested and closed, all else escaped. */
function assertBalanced(markup: string): void {
  const stack: string[] = [];
  for (const m of markup.matchAll(/<[^<>]*>|&[^;\s]*;?|[<>]/g)) {
    const token = m[0];
    if (token.startsWith("&")) {
      assert.ok(["&lt;", "&gt;", "&amp;", "&quot;"].includes(token), `bad entity ${token}`);
      continue;
    }
    const tag = /^<(\/?)([a-z-]+)(?:\s[^<>]*)?>$/.exec(token);
    assert.ok(tag, `stray ${token} at ${m.index} in ${markup}`);
    assert.ok(TAGS.has(tag[2]), `unsupported tag ${token}`);
    if (tag[1] === "") stack.push(tag[2]);
    else assert.equal(stack.pop(), tag[2], `unmatched ${token} at ${m.index} in ${markup}`);
  }
  assert.deepEqual(stack, [], `unclosed ${stack.join(", ")} in ${markup}`);
  // And the same input through the fake Bot API's port of Telegram's own parser.
  const parsed = parseHtml(markup);
  assert.ok(!("error" in parsed), "error" in parsed ? parsed.error : "");
}

/** Asserts every chunk is balanced HTML that shows at most `limit` characters. */
function assertChunks(chunks: string[], limit: number): void {
  for (const chunk of chunks) {
    assertBalanced(chunk);
    assert.ok(visibleLength(chunk) <= limit, `${visibleLength(chunk)} > ${limit}`);
    assert.ok(htmlToPlainText(chunk).trim() !== "", "an empty chunk");
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const squash = (text: string) => text.replace(/\s+/g, " ").trim();

Deno.test("markdownToTelegramHtml converts each construct", async (t) => {
  await t.step("emphasis, strikethrough and inline code", () => {
    assert.equal(
      html("**bold** __strong__ *it* _em_ ~~gone~~ `x`"),
      "<b>bold</b> <b>strong</b> <i>it</i> <i>em</i> <s>gone</s> <code>x</code>",
    );
  });
  await t.step("fenced code, with and without a language", () => {
    assert.equal(
      html("```python\nprint(1)\n```"),
      '<pre><code class="language-python">print(1)</code></pre>',
    );
    assert.equal(html("~~~\nplain\n~~~"), "<pre>plain</pre>");
    // An unclosed fence runs to the end, as in CommonMark.
    assert.equal(html("```\nopen"), "<pre>open</pre>");
    // An info string that is no language name is dropped.
    assert.equal(html('```"><b>\nx\n```'), "<pre>x</pre>");
  });
  await t.step("links, autolinks and images", () => {
    assert.equal(
      html("[site](https://example.com/a?b=1&c=2) <https://x.io> <me@x.io>"),
      '<a href="https://example.com/a?b=1&amp;c=2">site</a> <a href="https://x.io">https://x.io</a> ' +
        '<a href="mailto:me@x.io">me@x.io</a>',
    );
    assert.equal(
      html("![a chart](https://x.io/c.png)"),
      '<a href="https://x.io/c.png">a chart</a>',
    );
    assert.equal(html("[tg](tg://user?id=1)"), '<a href="tg://user?id=1">tg</a>');
  });
  await t.step("headings become bold lines", () => {
    assert.equal(html("# Title\n## Sub *it* ##\ntext"), "<b>Title</b>\n<b>Sub <i>it</i></b>\ntext");
    assert.equal(html("Setext\n======\n\nbody"), "<b>Setext</b>\n\nbody");
  });
  await t.step("lists become bullet and numbered lines", () => {
    assert.equal(
      html("- one\n* two **b**\n  + nested\n1. first\n2) second\n- [ ] todo\n- [x] done"),
      "• one\n• two <b>b</b>\n  • nested\n1. first\n2. second\n☐ todo\n☑ done",
    );
  });
  await t.step("blockquotes, nested ones flattened", () => {
    assert.equal(
      html("> quoted *it*\n> > deeper\n\nafter"),
      "<blockquote>quoted <i>it</i>\ndeeper</blockquote>\n\nafter",
    );
  });
  await t.step("horizontal rules become a line", () => {
    assert.equal(html("a\n\n---\n\n* * *\n\nb"), "a\n\n———\n\n———\n\nb");
  });
  await t.step("tables become a pre block in columns", () => {
    assert.equal(
      html("| Fruit | Qty |\n|:------|----:|\n| **apple** | 3 |\n| 香蕉 | 12 |\n\nafter"),
      "<pre>Fruit | Qty\n------+----\napple |   3\n香蕉  |  12</pre>\n\nafter",
    );
    assert.equal(
      html("| a \\| b | `c|d` |\n|---|---|\n| 1 | 2 |"),
      "<pre>a | b | c|d\n------+----\n1     | 2</pre>",
    );
  });
  await t.step("paragraph line breaks are kept", () => {
    assert.equal(html("one  \ntwo\\\nthree\n\n\n\nfour"), "one\ntwo\nthree\n\nfour");
  });
});

Deno.test("markdownToTelegramHtml escapes text and code", async (t) => {
  await t.step("in text", () => {
    assert.equal(html("a < b && c > d"), "a &lt; b &amp;&amp; c &gt; d");
    assert.equal(html("<b>not bold</b> &amp;"), "&lt;b&gt;not bold&lt;/b&gt; &amp;amp;");
  });
  await t.step("in code, which is never formatted", () => {
    assert.equal(
      html("`<i>**x**</i> & [l](https://a.b)`"),
      "<code>&lt;i&gt;**x**&lt;/i&gt; &amp; [l](https://a.b)</code>",
    );
    assert.equal(
      html("```html\n<p>**&nbsp;**</p>\n```"),
      '<pre><code class="language-html">&lt;p&gt;**&amp;nbsp;**&lt;/p&gt;</code></pre>',
    );
  });
  await t.step("in link targets and labels", () => {
    assert.equal(
      html('[a <b> & "c"](https://x.io/?q="1"&r=<2>)'),
      '<a href="https://x.io/?q=&quot;1&quot;&amp;r=&lt;2&gt;">a &lt;b&gt; &amp; &quot;c&quot;</a>',
    );
  });
});

Deno.test("markdownToTelegramHtml nests emphasis properly", () => {
  assert.equal(html("***both***"), "<i><b>both</b></i>");
  assert.equal(html("**bold *and it* bold**"), "<b>bold <i>and it</i> bold</b>");
  assert.equal(html("*it **and bold** it*"), "<i>it <b>and bold</b> it</i>");
  assert.equal(html("~~**gone bold**~~"), "<s><b>gone bold</b></s>");
  assert.equal(html("**[bold link](https://a.b)**"), '<b><a href="https://a.b">bold link</a></b>');
  // Inside a link label: emphasis yes, code entities no (Telegram cannot nest them).
  assert.equal(
    html("[*it* `code`](https://a.b)"),
    '<a href="https://a.b"><i>it</i> code</a>',
  );
  for (const md of ["**a *b** c*", "*a **b* c**", "__a *b__ c*", "**a ~~b** c~~"]) {
    assertBalanced(html(md));
  }
});

Deno.test("markdownToTelegramHtml leaves unpaired markers as text", () => {
  assert.equal(html("**unclosed and _open"), "**unclosed and _open");
  assert.equal(html("a * b and 5 * 3"), "a * b and 5 * 3");
  assert.equal(html("snake_case_name and __init__.py"), "snake_case_name and <b>init</b>.py");
  assert.equal(html("~about 5~ and ~~~x~~~"), "~about 5~ and ~~~x~~~");
  assert.equal(html("`unclosed code and **b**"), "`unclosed code and <b>b</b>");
  assert.equal(html("[not a link] and [half](https://x"), "[not a link] and [half](https://x");
  assert.equal(html("\\*escaped\\* \\_x\\_"), "*escaped* _x_");
  for (const md of ["***", "** **", "*a**", "**a*", "_*a_*", "[*a](https://b)*", "`a**`b**"]) {
    assertBalanced(html(md));
  }
});

Deno.test("markdownToTelegramHtml keeps any mix of markers balanced, whole or split", () => {
  const atoms = [
    "*",
    "**",
    "_",
    "__",
    "~~",
    "`",
    "```",
    "[",
    "](https://a.b)",
    "](x:y)",
    "<",
    ">",
    "&",
  ];
  atoms.push(
    " ",
    "\n",
    "\n\n",
    "a",
    "😀",
    "中",
    "# ",
    "- ",
    "> ",
    "|",
    "---",
    "\\",
    "![",
    "\n```py\n",
  );
  atoms.push("\n| a | b |\n|---|---|\n", "<https://x.y>");
  let seed = 7;
  const random = () => (seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647;
  for (let n = 0; n < 1_500; n++) {
    let md = "";
    for (let k = 1 + Math.floor(random() * 40); k > 0; k--) {
      md += atoms[Math.floor(random() * atoms.length)];
    }
    assertBalanced(html(md));
    assertChunks(renderTelegram(md, 32), 32);
  }
});

Deno.test("markdownToTelegramHtml shows links with other schemes as text", () => {
  assert.equal(html("[x](javascript:alert(1))"), "x (javascript:alert(1))");
  assert.equal(
    html("[docs](./README.md) [f](ftp://h/f) [d](data:text/html,hi)"),
    "docs (./README.md) f (ftp://h/f) d (data:text/html,hi)",
  );
  assert.equal(html("<javascript:alert(1)>"), "&lt;javascript:alert(1)&gt;");
  assert.equal(
    html("[ok](HTTP://A.B) [m](mailto:a@b.c)"),
    '<a href="HTTP://A.B">ok</a> <a href="mailto:a@b.c">m</a>',
  );
});

Deno.test("plainText removes the markers and spells out link targets", () => {
  const md = "# Title\n\n**bold** *it* `a<b>` [site](https://x.io) [bad](ftp://y)\n\n- item\n\n" +
    "> quote\n\n```js\nlet a = 1 < 2;\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |";
  assert.equal(
    plainText(md),
    "Title\n\nbold it a<b> site (https://x.io) bad (ftp://y)\n\n• item\n\nquote\n\nlet a = 1 < 2;\n\n" +
      "a | b\n--+--\n1 | 2",
  );
  // The text of a rendered chunk, for when Telegram rejects its HTML.
  assert.equal(htmlToPlainText(html("**a** &lt; `<b>`")), "a &lt; <b>");
});

/** A reply of about 9,000 characters: paragraphs, a list, a small code block and a quote. */
function longReply(): string {
  const parts: string[] = [];
  for (let k = 0; parts.join("\n\n").length < 9_000; k++) {
    if (k % 5 === 2) parts.push("```ts\n" + `const v${k} = a < b && c > d;\n`.repeat(4) + "```");
    else if (k % 5 === 4) {
      parts.push(`- item **${k}** one\n- item _${k}_ two\n> a quote & more ${k}`);
    } else {
      parts.push(
        `Paragraph ${k}: **bold ${k}** and *italic* text with \`code ${k}\` and a ` +
          `[link](https://example.com/${k}) — ${"lorem ipsum dolor sit amet ".repeat(16)}end.`,
      );
    }
  }
  return parts.join("\n\n");
}

Deno.test("markdownChunks splits a long reply at paragraphs, in order", () => {
  const md = longReply();
  assert.ok(md.length >= 9_000 && md.length < 9_600, `${md.length}`);
  const chunks = markdownChunks(md);
  assert.equal(chunks.length, 3);
  assert.equal(chunks.join("\n\n"), md);
  for (const chunk of chunks) assert.ok(chunk.length <= 4_000);
  const messages = chunks.map(html);
  assertChunks(messages, TELEGRAM_TEXT_LIMIT);
  assert.equal(squash(messages.map(htmlToPlainText).join("\n")), squash(htmlToPlainText(html(md))));
  assert.deepEqual(renderTelegram(md), messages);
});

Deno.test("markdownChunks cuts lines, then words, then between graphemes", async (t) => {
  await t.step("a long paragraph at spaces, a quoted one staying quoted", () => {
    const words = Array.from({ length: 400 }, (_, k) => `w${k}`).join(" ");
    const chunks = markdownChunks(`> ${words}`, 500);
    assert.ok(chunks.length > 3);
    for (const chunk of chunks) {
      assert.ok(chunk.length <= 500);
      assert.ok(chunk.startsWith("> "), chunk);
    }
    assert.equal(squash(chunks.map((c) => c.slice(2)).join(" ")), words);
    assertChunks(chunks.map(html), 500);
  });
  await t.step("emoji and CJK without spaces, never inside a character", () => {
    const family = "👨‍👩‍👧‍👦";
    for (const text of ["😀".repeat(3_000), "中文字符，".repeat(1_500), family.repeat(700)]) {
      const chunks = markdownChunks(text, 1_000);
      assert.equal(chunks.join(""), text);
      for (const chunk of chunks) {
        assert.ok(chunk.length <= 1_000);
        assert.ok(!LONE_SURROGATE.test(chunk));
      }
      if (text.startsWith(family)) assert.ok(chunks.every((c) => c.split(family).join("") === ""));
    }
  });
  await t.step("lines before words", () => {
    const lines = Array.from({ length: 60 }, (_, k) => `- line ${k} with some words`);
    const chunks = markdownChunks(lines.join("\n"), 300);
    assert.deepEqual(chunks.join("\n").split("\n"), lines);
  });
});

Deno.test("markdownChunks keeps code blocks whole, or splits and re-fences them", async (t) => {
  await t.step("a block that fits goes whole into the next chunk", () => {
    const code = "```sh\n" + "echo hello\n".repeat(20) + "```";
    const md = `${"intro words ".repeat(30)}\n\n${code}\n\nafter`;
    const chunks = markdownChunks(md, 400);
    assert.ok(chunks.some((c) => c.includes(code)), chunks.join("\n|\n"));
  });
  await t.step("a block too long alone is split, each part fenced with its language", () => {
    const lines = Array.from({ length: 300 }, (_, k) => `print("line ${k}") # <&>`);
    const md = `Intro\n\n\`\`\`python\n${lines.join("\n")}\n\`\`\`\n\nOutro **done**`;
    const chunks = markdownChunks(md, 1_000);
    assert.ok(chunks.length >= Math.ceil(md.length / 1_000), `${chunks.length}`);
    const code: string[] = [];
    for (const chunk of chunks) {
      assert.ok(chunk.length <= 1_000);
      const fences = chunk.split("\n").filter((l) => l.startsWith("```"));
      assert.equal(fences.length % 2, 0, chunk);
      code.push(...chunk.split("\n").filter((l) => l.startsWith("print(")));
    }
    assert.deepEqual(code, lines);
    const messages = chunks.map(html);
    assertChunks(messages, 1_000);
    for (const m of messages.slice(1, -1)) {
      assert.ok(m.startsWith('<pre><code class="language-python">print('), m.slice(0, 60));
    }
    assert.ok(messages.at(-1)!.endsWith("<b>done</b>"));
  });
  await t.step("a code line too long for a chunk is cut and still fenced", () => {
    const md = "```\n" + "x".repeat(2_500) + "\n```";
    const chunks = markdownChunks(md, 1_000);
    assert.equal(chunks.length, 3);
    for (const chunk of chunks) assert.match(chunk, /^```\nx+\n```$/);
    assertChunks(chunks.map(html), 1_000);
  });
});

Deno.test("markdownChunks repeats a long table's header and keeps padded tables in the limit", () => {
  const rows = Array.from({ length: 80 }, (_, k) => `| row ${k} | ${"v".repeat(k % 40)} |`);
  const md = `| name | value |\n|---|---:|\n${rows.join("\n")}`;
  const messages = renderTelegram(md, 600);
  assert.ok(messages.length > 2);
  assertChunks(messages, 600);
  for (const m of messages) assert.match(m, /^<pre>name +\| +value\n-+\+-+\n/);
  // Padding makes the text longer than its Markdown: one long cell widens every row.
  const wide = `| a | b |\n|---|---|\n| ${"x".repeat(300)} | y |\n` +
    Array.from({ length: 40 }, (_, k) => `| ${k} | z |`).join("\n");
  assertChunks(renderTelegram(wide, 1_000), 1_000);
  for (const chunk of markdownChunks(wide, 1_000)) assert.ok(visibleLength(html(chunk)) <= 1_000);
});

Deno.test("splitForTelegram splits plain text and HTML", async (t) => {
  await t.step("plain text at paragraphs, then lines, then spaces", () => {
    const paragraphs = Array.from(
      { length: 12 },
      (_, k) => `Paragraph ${k} <&> `.repeat(10).trim(),
    );
    const chunks = splitForTelegram(paragraphs.join("\n\n"), 800);
    for (const chunk of chunks) assert.ok(chunk.length <= 800);
    assert.deepEqual(chunks.join("\n\n").split("\n\n"), paragraphs);
  });
  await t.step("plain text never inside a character", () => {
    const text = "😀🇺🇦中".repeat(500);
    const chunks = splitForTelegram(text, 100);
    assert.equal(chunks.join(""), text);
    for (const chunk of chunks) {
      assert.ok(chunk.length <= 100 && !LONE_SURROGATE.test(chunk));
      assert.ok(
        chunk.split("🇺🇦").every((s) => !s.includes("\u{1F1FA}") && !s.includes("\u{1F1E6}")),
      );
    }
  });
  await t.step("HTML closes the tags open at a cut and re-opens them", () => {
    const code = Array.from({ length: 100 }, (_, k) => `x${k} = a &lt; b`).join("\n");
    const markup =
      `<b>bold ${"word ".repeat(150)}</b>\n\n<pre><code class="language-py">${code}</code></pre>` +
      `\n\n<a href="https://x.io/?a=1&amp;b=2">link ${"text ".repeat(100)}</a>`;
    const chunks = splitForTelegram(markup, 300, { html: true });
    assertChunks(chunks, 300);
    assert.ok(chunks.filter((c) => c.startsWith('<pre><code class="language-py">')).length >= 3);
    assert.ok(
      chunks.filter((c) => c.startsWith('<a href="https://x.io/?a=1&amp;b=2">')).length >= 2,
    );
    assert.equal(squash(chunks.map(htmlToPlainText).join(" ")), squash(htmlToPlainText(markup)));
  });
  await t.step("a limit Telegram cannot take is refused", () => {
    assert.throws(() => splitForTelegram("x", 5_000), RangeError);
    assert.throws(() => markdownChunks("x", 0), RangeError);
  });
});

Deno.test("renderTelegram sends nothing for a reply that shows nothing", () => {
  assert.deepEqual(renderTelegram(""), []);
  assert.deepEqual(renderTelegram(" \n\n```\n```\n"), []);
  assert.deepEqual(renderTelegram("**hi**"), ["<b>hi</b>"]);
});
