// The Vercel AI SDK's Anthropic provider (@ai-sdk/anthropic) against mockllm's Messages
// API: generateText, streamText, a tool call whose input the SDK validates against the
// tool's schema, and a 400 as APICallError.
//
// Usage: node vercel_anthropic.mjs ROOT_URL [CASE_JSON]   (the provider is given ROOT/v1)
import { createAnthropic } from "@ai-sdk/anthropic";
import { APICallError, generateText, jsonSchema, streamText, tool } from "ai";

import { readArgs, report } from "./common.mjs";

const { baseURL, request } = readArgs();
const provider = createAnthropic({ baseURL: `${baseURL}/v1`, apiKey: "sk-ant-test",
                                  headers: { Prefer: "seed=7" } });
const ask = { model: provider(request.model), messages: request.messages, maxRetries: 0 };

await report({
  async plain() {
    const result = await generateText(ask);
    return { content: result.text, finish_reason: result.finishReason, usage: result.usage };
  },
  async stream() {
    let streamError = null;
    const result = streamText({ ...ask, onError: ({ error }) => { streamError = String(error); } });
    let deltas = 0;
    for await (const _ of result.textStream) deltas += 1;
    return { content: await result.text, finish_reason: await result.finishReason, deltas,
             usage: await result.usage, error: streamError };
  },
  async tool() {
    const tools = { [request.tool.name]: tool({ inputSchema: jsonSchema(request.tool.parameters) }) };
    const result = await generateText({ ...ask, tools, toolChoice: "required" });
    const call = result.toolCalls[0];
    return { name: call.toolName, args: call.input, finish_reason: result.finishReason,
             invalid: call.invalid ?? false };
  },
  async error() {
    try {
      await generateText({ ...ask, topK: -5 });
      return { raised: null };
    } catch (err) {
      return { raised: err.constructor.name, is_api_call_error: APICallError.isInstance(err),
               status: err.statusCode, message: err.message, body: err.responseBody };
    }
  },
});
