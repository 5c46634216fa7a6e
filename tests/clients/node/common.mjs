// What every client script shares: where the server is, what to ask it, how to report.
//
// Usage: node <script>.mjs [BASE_URL] [CASE_JSON]
//   BASE_URL  the OpenAI-style base URL ending in /v1 (else $MOCKLLM_BASE_URL)
//   CASE_JSON {"model", "messages", "seed", "tool": {"name", "parameters"}} (else $MOCKLLM_CLIENT_CASE,
//             else a small built-in case, for running a script by hand)
// Each script prints one JSON object: {"plain", "stream", "tool", "error"}; a check that threw
// reports {"unexpected": "<error>"} in its place, so one broken check does not hide the others.

const DEFAULT_CASE = {
  model: "gpt-4o",
  seed: 7,
  messages: [{ role: "user", content: "What is the weather in Paris?" }],
  tool: {
    name: "get_weather",
    parameters: {
      type: "object",
      properties: { city: { type: "string" }, days: { type: "integer", minimum: 1, maximum: 7 } },
      required: ["city", "days"],
      additionalProperties: false,
    },
  },
};

/** The base URL and the request case, from argv or the environment. */
export function readArgs() {
  const baseURL = process.argv[2] || process.env.MOCKLLM_BASE_URL;
  if (!baseURL) {
    console.error("usage: node <script>.mjs BASE_URL [CASE_JSON]  (or set MOCKLLM_BASE_URL)");
    process.exit(2);
  }
  const caseText = process.argv[3] || process.env.MOCKLLM_CLIENT_CASE;
  return { baseURL, request: caseText ? JSON.parse(caseText) : DEFAULT_CASE };
}

/** Run each named check in turn and print their results as one JSON object. */
export async function report(checks) {
  const results = {};
  for (const [name, check] of Object.entries(checks)) {
    try {
      results[name] = await check();
    } catch (err) {
      results[name] = { unexpected: `${err?.constructor?.name}: ${err?.message}` };
    }
  }
  process.stdout.write(JSON.stringify(results) + "\n");
}
