// The Vercel AI SDK (ai + @ai-sdk/openai, chat completions model) against mockllm:
// generateText, streamText (the SDK's own accumulation), a tool call whose input the
// SDK parses and validates against the tool's schema, and a 400 as APICallError.
import { createOpenAI } from "@ai-sdk/openai";
import { APICallError, generateText, jsonSchema, streamText, tool } from "ai";

import { readArgs, report } from "./common.mjs";

const { baseURL, request } = readArgs();
const provider = createOpenAI({ baseURL, apiKey: "sk-test" });
// .chat: the provider's default model speaks the Responses API; mockllm serves chat completions.
const ask = { model: provider.chat(request.model), messages: request.messages, seed: request.seed,
              maxRetries: 0 };

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
      await generateText({ ...ask, temperature: 3 });
      return { raised: null };
    } catch (err) {
      return { raised: err.constructor.name, is_api_call_error: APICallError.isInstance(err),
               status: err.statusCode, message: err.message, body: err.responseBody };
    }
  },
});
