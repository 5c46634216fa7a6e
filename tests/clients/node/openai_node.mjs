// The official openai Node SDK against mockllm: plain, streamed (the SDK's own
// accumulator), a strict tool call the SDK parses, and a 400 as BadRequestError.
import OpenAI from "openai";

import { readArgs, report } from "./common.mjs";

const { baseURL, request } = readArgs();
const client = new OpenAI({ baseURL, apiKey: "sk-test", maxRetries: 0 });
const ask = { model: request.model, messages: request.messages, seed: request.seed };

await report({
  async plain() {
    const reply = await client.chat.completions.create(ask);
    const choice = reply.choices[0];
    return { id: reply.id, content: choice.message.content, finish_reason: choice.finish_reason,
             usage: reply.usage };
  },
  async stream() {
    const stream = client.chat.completions.stream({ ...ask, stream_options: { include_usage: true } });
    let deltas = 0;
    stream.on("content", () => { deltas += 1; });
    const final = await stream.finalChatCompletion();
    const choice = final.choices[0];
    return { content: choice.message.content, finish_reason: choice.finish_reason, deltas,
             usage: final.usage };
  },
  async tool() {
    // strict: the SDK's parse() then parses the arguments itself (parsed_arguments).
    const tools = [{ type: "function", function: { ...request.tool, strict: true } }];
    const reply = await client.chat.completions.parse({ ...ask, tools, tool_choice: "required" });
    const call = reply.choices[0].message.tool_calls[0];
    return { name: call.function.name, args: call.function.parsed_arguments,
             finish_reason: reply.choices[0].finish_reason };
  },
  async error() {
    try {
      await client.chat.completions.create({ ...ask, temperature: 3 });
      return { raised: null };
    } catch (err) {
      return { raised: err.constructor.name, is_bad_request: err instanceof OpenAI.BadRequestError,
               status: err.status, param: err.param, type: err.type, code: err.code,
               message: err.message };
    }
  },
});
