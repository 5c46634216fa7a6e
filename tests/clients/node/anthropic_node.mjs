// The anthropic Node SDK against mockllm's Messages API: messages.create, messages.stream
// (the SDK's own accumulation into finalMessage), a tool_use whose input the SDK parses,
// countTokens, and a 400 as the SDK's BadRequestError.
//
// Usage: node anthropic_node.mjs ROOT_URL [CASE_JSON]   (the root, without /v1)
import Anthropic from "@anthropic-ai/sdk";

import { readArgs, report } from "./common.mjs";

const { baseURL, request } = readArgs();
// Messages requests carry no seed: mockllm's Prefer header gives one, so the plain reply
// and the stream can be compared.
const client = new Anthropic({ baseURL, apiKey: "sk-ant-test", maxRetries: 0,
                               defaultHeaders: { Prefer: "seed=7" } });
const ask = { model: request.model, max_tokens: 512, messages: request.messages };
const tool = { name: request.tool.name, input_schema: request.tool.parameters };

await report({
  async plain() {
    const message = await client.messages.create(ask);
    return { content: message.content[0].text, stop_reason: message.stop_reason,
             usage: message.usage, id: message.id };
  },
  async stream() {
    const stream = client.messages.stream(ask);
    let deltas = 0;
    stream.on("text", () => { deltas += 1; });
    const message = await stream.finalMessage();
    return { content: message.content[0].text, stop_reason: message.stop_reason, deltas,
             usage: message.usage };
  },
  async tool() {
    const message = await client.messages.create({ ...ask, tools: [tool],
                                                   tool_choice: { type: "any" } });
    const use = message.content.find((block) => block.type === "tool_use");
    return { name: use.name, args: use.input, id: use.id, stop_reason: message.stop_reason };
  },
  async count() {
    const counted = await client.messages.countTokens({ model: ask.model,
                                                        messages: ask.messages });
    return { input_tokens: counted.input_tokens };
  },
  async error() {
    try {
      await client.messages.create({ ...ask, temperature: 3 });
      return { raised: null };
    } catch (err) {
      return { raised: err.constructor.name, status: err.status, message: err.message,
               type: err.error?.error?.type, request_id: err.requestID ?? null };
    }
  },
});
