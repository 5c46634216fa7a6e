// The Responses API (/v1/responses) from Node: the official openai SDK (create, its
// stream helper, a function call, a 400) and the Vercel AI SDK's default model, which
// speaks the Responses API (generateText, streamText, a tool call).
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, jsonSchema, streamText, tool } from "ai";
import OpenAI from "openai";

import { readArgs, report } from "./common.mjs";

const { baseURL, request } = readArgs();
const client = new OpenAI({ baseURL, apiKey: "sk-test", maxRetries: 0 });
const input = request.messages;
const functionTool = { type: "function", name: request.tool.name, parameters: request.tool.parameters,
                       strict: true };
const provider = createOpenAI({ baseURL, apiKey: "sk-test" });
const ask = { model: provider(request.model), messages: request.messages, maxRetries: 0 };

await report({
  async plain() {
    const reply = await client.responses.create({ model: request.model, input });
    return { id: reply.id, content: reply.output_text, status: reply.status, usage: reply.usage };
  },
  async stream() {
    const stream = client.responses.stream({ model: request.model, input });
    let deltas = 0;
    let text = "";
    stream.on("response.output_text.delta", (event) => { deltas += 1; text += event.delta; });
    const final = await stream.finalResponse();
    const message = final.output.find((item) => item.type === "message");
    return { content: text, final_text: message.content[0].text, status: final.status, deltas,
             usage: final.usage };
  },
  async tool() {
    const reply = await client.responses.create({ model: request.model, input, tools: [functionTool],
                                                  tool_choice: "required" });
    const call = reply.output.find((item) => item.type === "function_call");
    return { name: call.name, args: JSON.parse(call.arguments), call_id: call.call_id };
  },
  async error() {
    try {
      await client.responses.create({ model: request.model, input, temperature: 3 });
      return { raised: null };
    } catch (err) {
      return { raised: err.constructor.name, status: err.status, param: err.param, type: err.type,
               code: err.code, message: err.message };
    }
  },
  async vercel_plain() {
    const result = await generateText(ask);
    return { content: result.text, finish_reason: result.finishReason, usage: result.usage };
  },
  async vercel_stream() {
    let streamError = null;
    const result = streamText({ ...ask, onError: ({ error }) => { streamError = String(error); } });
    let deltas = 0;
    for await (const _ of result.textStream) deltas += 1;
    return { content: await result.text, finish_reason: await result.finishReason, deltas,
             usage: await result.usage, error: streamError };
  },
  async vercel_tool() {
    const tools = { [request.tool.name]: tool({ inputSchema: jsonSchema(request.tool.parameters) }) };
    const result = await generateText({ ...ask, tools, toolChoice: "required" });
    const call = result.toolCalls[0];
    return { name: call.toolName, args: call.input, finish_reason: result.finishReason,
             invalid: call.invalid ?? false };
  },
});
