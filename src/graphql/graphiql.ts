// GraphiQL at /graphql for a browser (Yoga's, rendered by
// @graphql-yoga/render-graphiql), set up so that a new user's first try works:
// it opens on an example query for this service with the token hint in
// comments (a pre-filled `Bearer <your token>` header failed on open), and its
// WebSocket sends the Headers pane as graphql-ws `connectionParams`. Yoga's
// GraphiQL sends the pane's headers with HTTP requests only; its WebSocket
// client takes `connectionParams` from the options, which are JSON in the page,
// so the renderer splices in two functions: `onEditHeaders` (GraphiQL's
// callback) keeps the pane's text, and `connectionParams` parses it (JSON
// with comments, as GraphiQL reads it) when a socket connects.
import { renderGraphiQL } from '@graphql-yoga/render-graphiql'
import type { GraphiQLOptions } from 'graphql-yoga'

export const graphiqlDefaultQuery = `# Training service GraphiQL
#
# 1. Put your token in the Headers pane below:
#      { "Authorization": "Bearer <your token>" }
#    (a fresh install logs an admin token; \`npm run token\` makes more).
# 2. Run this query: Ctrl-Enter, or the run button.
#
# Subscriptions use the same header (over WebSocket), e.g.
#   subscription { myJobs { id name status progress { percentage } } }

query RecentJobs {
  jobs(first: 5) {
    totalCount
    edges {
      node {
        id
        name
        status
        progress {
          percentage
        }
        createdAt
      }
    }
  }
}
`

/** The Headers pane on first open: valid (JSON with comments, as GraphiQL parses it) and empty until the user fills it in. */
export const graphiqlHeaders = `{
  // "Authorization": "Bearer <your token>"
}
`

export const graphiqlOptions: GraphiQLOptions = {
  title: 'Training service GraphiQL',
  defaultQuery: graphiqlDefaultQuery,
  headers: graphiqlHeaders,
  subscriptionsProtocol: 'WS',
}

/**
 * Browser code (ES5, no dependencies): returns the options that are functions. `headers` is the pane's text when the
 * page opened; GraphiQL's storage key `graphiql:headers` holds what a previous visit left there.
 */
const functionOptions = `function (initialHeaders) {
  var latest = null;
  function parse(text) {
    if (!text || !text.trim()) return {};
    try { return JSON.parse(text); } catch (error) { /* JSON with comments or trailing commas */ }
    var plain = text
      .replace(/("(?:\\\\.|[^"\\\\])*")|\\/\\/[^\\n]*|\\/\\*[\\s\\S]*?\\*\\//g, function (match, string) { return string || ''; })
      .replace(/,(\\s*[}\\]])/g, '$1');
    try { return JSON.parse(plain); } catch (error) { return {}; }
  }
  function stored() {
    try { return window.localStorage.getItem('graphiql:headers'); } catch (error) { return null; }
  }
  return {
    onEditHeaders: function (text) { latest = text; },
    connectionParams: function () {
      var text = latest !== null ? latest : stored();
      var headers = parse(text !== null ? text : initialHeaders);
      return headers && typeof headers === 'object' && !Array.isArray(headers) ? headers : {};
    }
  };
}`

/** Yoga's GraphiQL page with `onEditHeaders` and `connectionParams` added to the options it renders with. */
export function renderTrainingGraphiQL(options: GraphiQLOptions): string {
  const html = renderGraphiQL(options)
  // render-graphiql writes the options as JSON.stringify(options) in its call to renderYogaGraphiQL.
  const json = JSON.stringify(options ?? {})
  const at = html.lastIndexOf(json)
  if (at < 0) return html
  const withFunctions = `Object.assign(${json}, (${functionOptions})(${JSON.stringify(options.headers ?? '')}))`
  return html.slice(0, at) + withFunctions + html.slice(at + json.length)
}
