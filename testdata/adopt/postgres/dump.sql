--
-- PostgreSQL database dump
--

\restrict FecHJSjmNyIYBVDb1m5HlTQWUKEVgV311F0DGuOwPTjM3UbrFlV9cexjyegw0MG

-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: agent_strategy_installations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.agent_strategy_installations (
    id uuid NOT NULL,
    created_at timestamp with time zone,
    updated_at timestamp with time zone,
    tenant_id uuid NOT NULL,
    provider character varying(127) NOT NULL,
    plugin_unique_identifier character varying(255),
    plugin_id character varying(255)
);


--
-- Name: ai_model_installations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ai_model_installations (
    id uuid NOT NULL,
    created_at timestamp with time zone,
    updated_at timestamp with time zone,
    provider character varying(127) NOT NULL,
    tenant_id uuid NOT NULL,
    plugin_unique_identifier character varying(255),
    plugin_id character varying(255)
);


--
-- Name: datasource_installations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.datasource_installations (
    id uuid NOT NULL,
    created_at timestamp with time zone,
    updated_at timestamp with time zone,
    tenant_id uuid NOT NULL,
    provider character varying(127) NOT NULL,
    plugin_unique_identifier character varying(255),
    plugin_id character varying(255)
);


--
-- Name: endpoints; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.endpoints (
    id uuid NOT NULL,
    created_at timestamp with time zone,
    updated_at timestamp with time zone,
    name character varying(127) DEFAULT 'default'::character varying,
    hook_id character varying(127),
    tenant_id character varying(64),
    user_id character varying(64),
    plugin_id character varying(64),
    expired_at timestamp with time zone,
    enabled boolean,
    settings text
);


--
-- Name: install_tasks; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.install_tasks (
    id uuid NOT NULL,
    created_at timestamp with time zone,
    updated_at timestamp with time zone,
    status character varying(50) NOT NULL,
    tenant_id uuid NOT NULL,
    total_plugins bigint NOT NULL,
    completed_plugins bigint NOT NULL,
    plugins text
);


--
-- Name: plugin_declarations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.plugin_declarations (
    id uuid NOT NULL,
    created_at timestamp with time zone,
    updated_at timestamp with time zone,
    plugin_unique_identifier character varying(255),
    plugin_id character varying(255),
    declaration text
);


--
-- Name: plugin_installations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.plugin_installations (
    id uuid NOT NULL,
    created_at timestamp with time zone,
    updated_at timestamp with time zone,
    tenant_id uuid,
    plugin_id character varying(255),
    plugin_unique_identifier character varying(255),
    runtime_type character varying(127),
    endpoints_setups bigint,
    endpoints_active bigint,
    source character varying(63),
    meta text
);


--
-- Name: plugin_readme_records; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.plugin_readme_records (
    id uuid NOT NULL,
    created_at timestamp with time zone,
    updated_at timestamp with time zone,
    plugin_unique_identifier character varying(255) NOT NULL,
    language character varying(10) NOT NULL,
    content text NOT NULL
);


--
-- Name: plugins; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.plugins (
    id uuid NOT NULL,
    created_at timestamp with time zone,
    updated_at timestamp with time zone,
    plugin_unique_identifier character varying(255),
    plugin_id character varying(255),
    refers bigint DEFAULT 0,
    install_type character varying(127),
    manifest_type character varying(127),
    remote_declaration text,
    source character varying(63) DEFAULT ''::character varying
);


--
-- Name: serverless_runtimes; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.serverless_runtimes (
    id uuid NOT NULL,
    created_at timestamp with time zone,
    updated_at timestamp with time zone,
    plugin_unique_identifier character varying(255),
    function_url character varying(255),
    function_name character varying(127),
    type character varying(127),
    checksum character varying(127)
);


--
-- Name: tenant_storages; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.tenant_storages (
    id uuid NOT NULL,
    created_at timestamp with time zone,
    updated_at timestamp with time zone,
    tenant_id character varying(255) NOT NULL,
    plugin_id character varying(255) NOT NULL,
    size bigint NOT NULL
);


--
-- Name: tool_installations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.tool_installations (
    id uuid NOT NULL,
    created_at timestamp with time zone,
    updated_at timestamp with time zone,
    tenant_id uuid NOT NULL,
    provider character varying(127) NOT NULL,
    plugin_unique_identifier character varying(255),
    plugin_id character varying(255)
);


--
-- Name: trigger_installations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.trigger_installations (
    id uuid NOT NULL,
    created_at timestamp with time zone,
    updated_at timestamp with time zone,
    tenant_id uuid NOT NULL,
    provider character varying(127) NOT NULL,
    plugin_unique_identifier character varying(255),
    plugin_id character varying(255)
);


--
-- Data for Name: agent_strategy_installations; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: ai_model_installations; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: datasource_installations; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: endpoints; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.endpoints VALUES ('01a251bc-5b28-715a-aa77-d8364a36ef34', '2026-12-07 18:20:28.328095+00', '2026-12-07 18:20:28.331282+00', 'kv-a', '9zr5gsg9yn4izmkr', '0b9a3ac4-7c3e-4c55-9a55-7c0c5a6f0a01', '7e1c2d3b-4a5f-4e6d-9c8b-1a2b3c4d5e6f', 'plugd/adoptkv', '2050-01-01 00:00:00+00', true, '{"api_key":"enc:sk-tenant-a-secret","greeting":"hello"}');
INSERT INTO public.endpoints VALUES ('01a251bc-5b2d-7070-a222-daff6296d20f', '2026-12-07 18:20:28.333033+00', '2026-12-07 18:20:28.334771+00', 'kv-b', 'p4cg0bn3lb9xfjou', '5d2f4e17-90f1-4f3b-8a0d-3c9a1d2e0b02', '7e1c2d3b-4a5f-4e6d-9c8b-1a2b3c4d5e6f', 'plugd/adoptkv', '2050-01-01 00:00:00+00', true, '{"api_key":"enc:short","greeting":"hola"}');
INSERT INTO public.endpoints VALUES ('01a251bc-5b30-767c-9296-aeb462d49d6a', '2026-12-07 18:20:28.33643+00', '2026-12-07 18:20:28.343446+00', 'echo-a', 'ux4cbllc0b78vxmz', '0b9a3ac4-7c3e-4c55-9a55-7c0c5a6f0a01', '7e1c2d3b-4a5f-4e6d-9c8b-1a2b3c4d5e6f', 'plugd/e2etool', '2050-01-01 00:00:00+00', false, '{}');


--
-- Data for Name: install_tasks; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.install_tasks VALUES ('01a251bc-5352-71ac-a1cf-c58da0c7635b', '2026-12-07 18:20:26.322119+00', '2026-12-07 18:20:26.37808+00', 'success', '5d2f4e17-90f1-4f3b-8a0d-3c9a1d2e0b02', 2, 2, '[{"plugin_unique_identifier":"plugd/adoptkv:0.0.1@5b82459ce102fcf9109d9c6867a506b0955ba1e58defa786fd518157da78d729","labels":{"en_US":"Adopt KV"},"icon":"1b1b006176d69109f8b122516826b710e6fc225519bba013a16e0d069c1fd05e.svg","icon_dark":"a2cac344824e6c832619f17889761fbba4968c6ee26dfa43e5e4da37ae318c38.svg","plugin_id":"plugd/adoptkv","status":"success","message":"installed","source":"package"},{"plugin_unique_identifier":"test/echo:0.0.1@20a6b69bf49ca85b63f1f3ac3dbd0afd1a640025a9fabb4c4646f823e18d0ed5","labels":{"en_US":"Echo"},"icon":"9dbae4c7739b897a2b4158a08c0089b0299cb328a3efc31ceae4889b583f1f1a.svg","icon_dark":"","plugin_id":"test/echo","status":"success","message":"installed","source":"package"}]');
INSERT INTO public.install_tasks VALUES ('01a251bb-bb87-7beb-8011-dca224c18570', '2026-12-07 18:19:47.46379+00', '2026-12-07 18:20:24.56933+00', 'success', '0b9a3ac4-7c3e-4c55-9a55-7c0c5a6f0a01', 3, 3, '[{"plugin_unique_identifier":"plugd/adoptkv:0.0.1@5b82459ce102fcf9109d9c6867a506b0955ba1e58defa786fd518157da78d729","labels":{"en_US":"Adopt KV"},"icon":"1b1b006176d69109f8b122516826b710e6fc225519bba013a16e0d069c1fd05e.svg","icon_dark":"a2cac344824e6c832619f17889761fbba4968c6ee26dfa43e5e4da37ae318c38.svg","plugin_id":"plugd/adoptkv","status":"success","message":"installed","source":"package"},{"plugin_unique_identifier":"plugd/e2etool:0.0.1@8e59459ae9873c63a52e2d094d00f558837feafa3b6a5effe66925c1b1bbfb65","labels":{"en_US":"E2E tool"},"icon":"1b1b006176d69109f8b122516826b710e6fc225519bba013a16e0d069c1fd05e.svg","icon_dark":"a2cac344824e6c832619f17889761fbba4968c6ee26dfa43e5e4da37ae318c38.svg","plugin_id":"plugd/e2etool","status":"success","message":"installed","source":"package"},{"plugin_unique_identifier":"test/echo:0.0.1@20a6b69bf49ca85b63f1f3ac3dbd0afd1a640025a9fabb4c4646f823e18d0ed5","labels":{"en_US":"Echo"},"icon":"9dbae4c7739b897a2b4158a08c0089b0299cb328a3efc31ceae4889b583f1f1a.svg","icon_dark":"","plugin_id":"test/echo","status":"success","message":"installed","source":"package"}]');


--
-- Data for Name: plugin_declarations; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.plugin_declarations VALUES ('01a251bb-bb68-79cd-938e-631ec2028875', '2026-12-07 18:19:47.432684+00', '2026-12-07 18:19:47.432684+00', 'plugd/adoptkv:0.0.1@5b82459ce102fcf9109d9c6867a506b0955ba1e58defa786fd518157da78d729', 'plugd/adoptkv', '{"version":"0.0.1","type":"plugin","author":"plugd","name":"adoptkv","label":{"en_US":"Adopt KV"},"description":{"en_US":"Reads and writes plugin storage, for plugd adopt''s fixture."},"icon":"1b1b006176d69109f8b122516826b710e6fc225519bba013a16e0d069c1fd05e.svg","icon_dark":"a2cac344824e6c832619f17889761fbba4968c6ee26dfa43e5e4da37ae318c38.svg","resource":{"memory":268435456,"permission":{"endpoint":{"enabled":true},"storage":{"enabled":true,"size":4096}}},"plugins":{"tools":["provider/adoptkv.yaml"],"models":null,"endpoints":["group/adoptkv.yaml"],"agent_strategies":null,"datasources":null,"triggers":null},"meta":{"version":"0.0.1","arch":["amd64","arm64"],"runner":{"language":"python","version":"3.11","entrypoint":"main"},"minimum_dify_version":null},"tags":["utilities"],"created_at":"2026-01-01T00:00:00Z","privacy":"PRIVACY.md","verified":false,"endpoint":{"settings":[{"name":"api_key","type":"secret-input","scope":null,"required":true,"default":null,"options":null,"multiple":false,"label":{"en_US":"API key"},"help":{"en_US":"Reported back by the endpoint, to show the daemon decrypted it."},"url":null,"placeholder":null},{"name":"greeting","type":"text-input","scope":null,"required":false,"default":null,"options":null,"multiple":false,"label":{"en_US":"Greeting"},"help":null,"url":null,"placeholder":null}],"endpoints":[{"path":"/kv/\u003ckey\u003e","method":"GET","hidden":false},{"path":"/kv/\u003ckey\u003e","method":"POST","hidden":false}]},"tool":{"identity":{"author":"plugd","name":"adoptkv","description":{"en_US":"Plugin storage through a tool."},"icon":"1b1b006176d69109f8b122516826b710e6fc225519bba013a16e0d069c1fd05e.svg","icon_dark":"a2cac344824e6c832619f17889761fbba4968c6ee26dfa43e5e4da37ae318c38.svg","label":{"en_US":"Adopt KV"},"tags":["utilities"]},"credentials_schema":[],"oauth_schema":null,"tools":[{"identity":{"author":"plugd","name":"kv","label":{"en_US":"KV"}},"description":{"human":{"en_US":"Gets or sets a key of plugin storage."},"llm":"Gets (value empty) or sets a key of plugin storage and answers with what is stored."},"parameters":[{"name":"key","label":{"en_US":"Key"},"human_description":{"en_US":"The storage key."},"type":"string","scope":null,"form":"llm","llm_description":"The storage key.","required":true,"auto_generate":null,"template":null,"default":null,"min":null,"max":null,"multiple":false,"precision":null,"options":null},{"name":"value","label":{"en_US":"Value"},"human_description":{"en_US":"When given, stored under the key first."},"type":"string","scope":null,"form":"llm","llm_description":"When given, stored under the key first.","required":false,"auto_generate":null,"template":null,"default":null,"min":null,"max":null,"multiple":false,"precision":null,"options":null}],"has_runtime_parameters":false}]}}');
INSERT INTO public.plugin_declarations VALUES ('01a251bb-bb72-7648-9182-207d2487b38a', '2026-12-07 18:19:47.442418+00', '2026-12-07 18:19:47.442418+00', 'plugd/e2etool:0.0.1@8e59459ae9873c63a52e2d094d00f558837feafa3b6a5effe66925c1b1bbfb65', 'plugd/e2etool', '{"version":"0.0.1","type":"plugin","author":"plugd","name":"e2etool","label":{"en_US":"E2E tool"},"description":{"en_US":"Echo tool and endpoint for plugd''s end-to-end tests."},"icon":"1b1b006176d69109f8b122516826b710e6fc225519bba013a16e0d069c1fd05e.svg","icon_dark":"a2cac344824e6c832619f17889761fbba4968c6ee26dfa43e5e4da37ae318c38.svg","resource":{"memory":268435456,"permission":{"endpoint":{"enabled":true},"storage":{"enabled":true,"size":1048576}}},"plugins":{"tools":["provider/e2etool.yaml"],"models":null,"endpoints":["endpoints/e2etool.yaml"],"agent_strategies":null,"datasources":null,"triggers":null},"meta":{"version":"0.0.1","arch":["amd64","arm64"],"runner":{"language":"python","version":"3.11","entrypoint":"main"},"minimum_dify_version":null},"tags":["utilities"],"created_at":"2026-01-01T00:00:00Z","privacy":"PRIVACY.md","verified":false,"endpoint":{"settings":[],"endpoints":[{"path":"/echo","method":"POST","hidden":false},{"path":"/echo","method":"GET","hidden":false}]},"tool":{"identity":{"author":"plugd","name":"e2etool","description":{"en_US":"Echo tool for plugd''s end-to-end tests."},"icon":"1b1b006176d69109f8b122516826b710e6fc225519bba013a16e0d069c1fd05e.svg","icon_dark":"a2cac344824e6c832619f17889761fbba4968c6ee26dfa43e5e4da37ae318c38.svg","label":{"en_US":"E2E tool"},"tags":["utilities"]},"credentials_schema":[{"name":"api_key","type":"secret-input","scope":null,"required":false,"default":null,"options":null,"multiple":false,"label":{"en_US":"API key"},"help":{"en_US":"Any value but \"bad\" validates."},"url":null,"placeholder":null}],"oauth_schema":null,"tools":[{"identity":{"author":"plugd","name":"echo","label":{"en_US":"Echo"}},"description":{"human":{"en_US":"Answers according to mode."},"llm":"Echoes text back; mode selects text, json, sleep, error, storage or big."},"parameters":[{"name":"text","label":{"en_US":"Text"},"human_description":{"en_US":"The text to echo (seconds to sleep in sleep mode)."},"type":"string","scope":null,"form":"llm","llm_description":"The text to echo.","required":true,"auto_generate":null,"template":null,"default":null,"min":null,"max":null,"multiple":false,"precision":null,"options":null},{"name":"mode","label":{"en_US":"Mode"},"human_description":{"en_US":"text, json, sleep, error, storage or big."},"type":"string","scope":null,"form":"llm","llm_description":"text, json, sleep, error, storage or big.","required":false,"auto_generate":null,"template":null,"default":null,"min":null,"max":null,"multiple":false,"precision":null,"options":null}],"has_runtime_parameters":false}]}}');
INSERT INTO public.plugin_declarations VALUES ('01a251bb-bb79-723b-8d02-04cad5fcc324', '2026-12-07 18:19:47.449158+00', '2026-12-07 18:19:47.449158+00', 'test/echo:0.0.1@20a6b69bf49ca85b63f1f3ac3dbd0afd1a640025a9fabb4c4646f823e18d0ed5', 'test/echo', '{"version":"0.0.1","type":"plugin","author":"test","name":"echo","label":{"en_US":"Echo"},"description":{"en_US":"Echo plugin"},"icon":"9dbae4c7739b897a2b4158a08c0089b0299cb328a3efc31ceae4889b583f1f1a.svg","icon_dark":"","resource":{"memory":1048576,"permission":{"tool":{"enabled":true},"storage":{"enabled":true,"size":1048576}}},"plugins":{"tools":["provider/echo.yaml"],"models":null,"endpoints":null,"agent_strategies":null,"datasources":null,"triggers":null},"meta":{"version":"0.0.1","arch":["amd64"],"runner":{"language":"python","version":"3.11","entrypoint":"main"},"minimum_dify_version":null},"tags":[],"created_at":"2024-01-01T00:00:00Z","verified":false,"tool":{"identity":{"author":"test","name":"echo","description":{"en_US":"Echo provider"},"icon":"9dbae4c7739b897a2b4158a08c0089b0299cb328a3efc31ceae4889b583f1f1a.svg","icon_dark":"","label":{"en_US":"Echo"},"tags":null},"credentials_schema":[],"oauth_schema":null,"tools":[{"identity":{"author":"test","name":"echo","label":{"en_US":"Echo"}},"description":{"human":{"en_US":"Echo text"},"llm":"Echo text"},"parameters":[{"name":"text","label":{"en_US":"Text"},"human_description":{"en_US":"text"},"type":"string","scope":null,"form":"llm","llm_description":"text","required":true,"auto_generate":null,"template":null,"default":null,"min":null,"max":null,"multiple":false,"precision":null,"options":null}],"has_runtime_parameters":false}]}}');


--
-- Data for Name: plugin_installations; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.plugin_installations VALUES ('01a251bc-4c76-7235-adf3-af7a22ba9212', '2026-12-07 18:20:24.566149+00', '2026-12-07 18:20:24.566149+00', '0b9a3ac4-7c3e-4c55-9a55-7c0c5a6f0a01', 'test/echo', 'test/echo:0.0.1@20a6b69bf49ca85b63f1f3ac3dbd0afd1a640025a9fabb4c4646f823e18d0ed5', 'local', 0, 0, 'package', '{"fixture":"a-echo"}');
INSERT INTO public.plugin_installations VALUES ('01a251bc-5385-7021-8049-adba4a314936', '2026-12-07 18:20:26.373025+00', '2026-12-07 18:20:26.373025+00', '5d2f4e17-90f1-4f3b-8a0d-3c9a1d2e0b02', 'test/echo', 'test/echo:0.0.1@20a6b69bf49ca85b63f1f3ac3dbd0afd1a640025a9fabb4c4646f823e18d0ed5', 'local', 0, 0, 'package', '{}');
INSERT INTO public.plugin_installations VALUES ('01a251bc-188e-737c-a7a5-d773195e678d', '2026-12-07 18:20:11.279152+00', '2026-12-07 18:20:11.279152+00', '0b9a3ac4-7c3e-4c55-9a55-7c0c5a6f0a01', 'plugd/adoptkv', 'plugd/adoptkv:0.0.1@5b82459ce102fcf9109d9c6867a506b0955ba1e58defa786fd518157da78d729', 'local', 1, 1, 'package', '{"fixture":"a-kv"}');
INSERT INTO public.plugin_installations VALUES ('01a251bc-535f-7336-a378-2ec1c83453f9', '2026-12-07 18:20:26.335221+00', '2026-12-07 18:20:26.335221+00', '5d2f4e17-90f1-4f3b-8a0d-3c9a1d2e0b02', 'plugd/adoptkv', 'plugd/adoptkv:0.0.1@5b82459ce102fcf9109d9c6867a506b0955ba1e58defa786fd518157da78d729', 'local', 1, 1, 'package', '{"fixture":"b-kv"}');
INSERT INTO public.plugin_installations VALUES ('01a251bc-1e88-78fd-89d1-f1eb33bf5938', '2026-12-07 18:20:12.808594+00', '2026-12-07 18:20:12.808594+00', '0b9a3ac4-7c3e-4c55-9a55-7c0c5a6f0a01', 'plugd/e2etool', 'plugd/e2etool:0.0.1@8e59459ae9873c63a52e2d094d00f558837feafa3b6a5effe66925c1b1bbfb65', 'local', 1, 0, 'package', '{}');


--
-- Data for Name: plugin_readme_records; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: plugins; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.plugins VALUES ('01a251bc-1e82-7620-be38-8fee577b9233', '2026-12-07 18:20:12.802408+00', '2026-12-07 18:20:12.808065+00', 'plugd/e2etool:0.0.1@8e59459ae9873c63a52e2d094d00f558837feafa3b6a5effe66925c1b1bbfb65', 'plugd/e2etool', 1, 'local', '', '{"version":"","type":"","author":"","name":"","label":{"en_US":""},"description":{"en_US":""},"icon":"","icon_dark":"","resource":{"memory":0},"plugins":{"tools":null,"models":null,"endpoints":null,"agent_strategies":null,"datasources":null,"triggers":null},"meta":{"version":"","arch":null,"runner":{"language":"","version":"","entrypoint":""},"minimum_dify_version":null},"tags":[],"created_at":"0001-01-01T00:00:00Z","verified":false}', 'package');
INSERT INTO public.plugins VALUES ('01a251bc-187a-7398-b087-3a1e5a8655a2', '2026-12-07 18:20:11.25824+00', '2026-12-07 18:20:26.334759+00', 'plugd/adoptkv:0.0.1@5b82459ce102fcf9109d9c6867a506b0955ba1e58defa786fd518157da78d729', 'plugd/adoptkv', 2, 'local', '', '{"version":"","type":"","author":"","name":"","label":{"en_US":""},"description":{"en_US":""},"icon":"","icon_dark":"","resource":{"memory":0},"plugins":{"tools":null,"models":null,"endpoints":null,"agent_strategies":null,"datasources":null,"triggers":null},"meta":{"version":"","arch":null,"runner":{"language":"","version":"","entrypoint":""},"minimum_dify_version":null},"tags":[],"created_at":"0001-01-01T00:00:00Z","verified":false}', 'package');
INSERT INTO public.plugins VALUES ('01a251bc-4c73-7aae-b554-7f842f2d25a3', '2026-12-07 18:20:24.563706+00', '2026-12-07 18:20:26.369304+00', 'test/echo:0.0.1@20a6b69bf49ca85b63f1f3ac3dbd0afd1a640025a9fabb4c4646f823e18d0ed5', 'test/echo', 2, 'local', '', '{"version":"","type":"","author":"","name":"","label":{"en_US":""},"description":{"en_US":""},"icon":"","icon_dark":"","resource":{"memory":0},"plugins":{"tools":null,"models":null,"endpoints":null,"agent_strategies":null,"datasources":null,"triggers":null},"meta":{"version":"","arch":null,"runner":{"language":"","version":"","entrypoint":""},"minimum_dify_version":null},"tags":[],"created_at":"0001-01-01T00:00:00Z","verified":false}', 'package');


--
-- Data for Name: serverless_runtimes; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: tenant_storages; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.tenant_storages VALUES ('01a251bc-5bc8-769f-ae12-7d3c785c9dfa', '2026-12-07 18:20:28.488441+00', '2026-12-07 18:20:28.488441+00', '5d2f4e17-90f1-4f3b-8a0d-3c9a1d2e0b02', 'plugd/adoptkv', 18);
INSERT INTO public.tenant_storages VALUES ('01a251bc-5ba7-722a-8457-d6460836d68a', '2026-12-07 18:20:28.455149+00', '2026-12-07 18:20:28.455149+00', '0b9a3ac4-7c3e-4c55-9a55-7c0c5a6f0a01', 'plugd/adoptkv', 37);


--
-- Data for Name: tool_installations; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.tool_installations VALUES ('01a251bc-18a0-7b1c-a27c-5766a3c6ca0a', '2026-12-07 18:20:11.296776+00', '2026-12-07 18:20:11.296776+00', '0b9a3ac4-7c3e-4c55-9a55-7c0c5a6f0a01', 'adoptkv', 'plugd/adoptkv:0.0.1@5b82459ce102fcf9109d9c6867a506b0955ba1e58defa786fd518157da78d729', 'plugd/adoptkv');
INSERT INTO public.tool_installations VALUES ('01a251bc-1e88-7df3-a72d-84d7fc40662c', '2026-12-07 18:20:12.808918+00', '2026-12-07 18:20:12.808918+00', '0b9a3ac4-7c3e-4c55-9a55-7c0c5a6f0a01', 'e2etool', 'plugd/e2etool:0.0.1@8e59459ae9873c63a52e2d094d00f558837feafa3b6a5effe66925c1b1bbfb65', 'plugd/e2etool');
INSERT INTO public.tool_installations VALUES ('01a251bc-4c76-7a0e-ae7b-e2823bcd46df', '2026-12-07 18:20:24.566663+00', '2026-12-07 18:20:24.566663+00', '0b9a3ac4-7c3e-4c55-9a55-7c0c5a6f0a01', 'echo', 'test/echo:0.0.1@20a6b69bf49ca85b63f1f3ac3dbd0afd1a640025a9fabb4c4646f823e18d0ed5', 'test/echo');
INSERT INTO public.tool_installations VALUES ('01a251bc-535f-7ca6-9ef6-cd4e289f5b89', '2026-12-07 18:20:26.335835+00', '2026-12-07 18:20:26.335835+00', '5d2f4e17-90f1-4f3b-8a0d-3c9a1d2e0b02', 'adoptkv', 'plugd/adoptkv:0.0.1@5b82459ce102fcf9109d9c6867a506b0955ba1e58defa786fd518157da78d729', 'plugd/adoptkv');
INSERT INTO public.tool_installations VALUES ('01a251bc-5385-77db-bf31-d17d5ecacc53', '2026-12-07 18:20:26.373518+00', '2026-12-07 18:20:26.373518+00', '5d2f4e17-90f1-4f3b-8a0d-3c9a1d2e0b02', 'echo', 'test/echo:0.0.1@20a6b69bf49ca85b63f1f3ac3dbd0afd1a640025a9fabb4c4646f823e18d0ed5', 'test/echo');


--
-- Data for Name: trigger_installations; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Name: agent_strategy_installations agent_strategy_installations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.agent_strategy_installations
    ADD CONSTRAINT agent_strategy_installations_pkey PRIMARY KEY (id);


--
-- Name: ai_model_installations ai_model_installations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ai_model_installations
    ADD CONSTRAINT ai_model_installations_pkey PRIMARY KEY (id);


--
-- Name: datasource_installations datasource_installations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.datasource_installations
    ADD CONSTRAINT datasource_installations_pkey PRIMARY KEY (id);


--
-- Name: endpoints endpoints_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.endpoints
    ADD CONSTRAINT endpoints_pkey PRIMARY KEY (id);


--
-- Name: install_tasks install_tasks_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.install_tasks
    ADD CONSTRAINT install_tasks_pkey PRIMARY KEY (id);


--
-- Name: plugin_declarations plugin_declarations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.plugin_declarations
    ADD CONSTRAINT plugin_declarations_pkey PRIMARY KEY (id);


--
-- Name: plugin_installations plugin_installations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.plugin_installations
    ADD CONSTRAINT plugin_installations_pkey PRIMARY KEY (id);


--
-- Name: plugin_readme_records plugin_readme_records_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.plugin_readme_records
    ADD CONSTRAINT plugin_readme_records_pkey PRIMARY KEY (id);


--
-- Name: plugins plugins_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.plugins
    ADD CONSTRAINT plugins_pkey PRIMARY KEY (id);


--
-- Name: serverless_runtimes serverless_runtimes_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.serverless_runtimes
    ADD CONSTRAINT serverless_runtimes_pkey PRIMARY KEY (id);


--
-- Name: tenant_storages tenant_storages_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tenant_storages
    ADD CONSTRAINT tenant_storages_pkey PRIMARY KEY (id);


--
-- Name: tool_installations tool_installations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tool_installations
    ADD CONSTRAINT tool_installations_pkey PRIMARY KEY (id);


--
-- Name: trigger_installations trigger_installations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.trigger_installations
    ADD CONSTRAINT trigger_installations_pkey PRIMARY KEY (id);


--
-- Name: endpoints uni_endpoints_hook_id; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.endpoints
    ADD CONSTRAINT uni_endpoints_hook_id UNIQUE (hook_id);


--
-- Name: plugin_declarations uni_plugin_declarations_plugin_unique_identifier; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.plugin_declarations
    ADD CONSTRAINT uni_plugin_declarations_plugin_unique_identifier UNIQUE (plugin_unique_identifier);


--
-- Name: serverless_runtimes uni_serverless_runtimes_plugin_unique_identifier; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.serverless_runtimes
    ADD CONSTRAINT uni_serverless_runtimes_plugin_unique_identifier UNIQUE (plugin_unique_identifier);


--
-- Name: idx_agent_strategy_installations_plugin_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_agent_strategy_installations_plugin_id ON public.agent_strategy_installations USING btree (plugin_id);


--
-- Name: idx_agent_strategy_installations_plugin_unique_identifier; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_agent_strategy_installations_plugin_unique_identifier ON public.agent_strategy_installations USING btree (plugin_unique_identifier);


--
-- Name: idx_agent_strategy_installations_provider; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_agent_strategy_installations_provider ON public.agent_strategy_installations USING btree (provider);


--
-- Name: idx_agent_strategy_installations_tenant_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_agent_strategy_installations_tenant_id ON public.agent_strategy_installations USING btree (tenant_id);


--
-- Name: idx_ai_model_installations_plugin_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_ai_model_installations_plugin_id ON public.ai_model_installations USING btree (plugin_id);


--
-- Name: idx_ai_model_installations_plugin_unique_identifier; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_ai_model_installations_plugin_unique_identifier ON public.ai_model_installations USING btree (plugin_unique_identifier);


--
-- Name: idx_ai_model_installations_provider; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_ai_model_installations_provider ON public.ai_model_installations USING btree (provider);


--
-- Name: idx_ai_model_installations_tenant_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_ai_model_installations_tenant_id ON public.ai_model_installations USING btree (tenant_id);


--
-- Name: idx_datasource_installations_plugin_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_datasource_installations_plugin_id ON public.datasource_installations USING btree (plugin_id);


--
-- Name: idx_datasource_installations_plugin_unique_identifier; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_datasource_installations_plugin_unique_identifier ON public.datasource_installations USING btree (plugin_unique_identifier);


--
-- Name: idx_datasource_installations_provider; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_datasource_installations_provider ON public.datasource_installations USING btree (provider);


--
-- Name: idx_datasource_installations_tenant_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_datasource_installations_tenant_id ON public.datasource_installations USING btree (tenant_id);


--
-- Name: idx_endpoints_plugin_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_endpoints_plugin_id ON public.endpoints USING btree (plugin_id);


--
-- Name: idx_endpoints_tenant_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_endpoints_tenant_id ON public.endpoints USING btree (tenant_id);


--
-- Name: idx_endpoints_user_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_endpoints_user_id ON public.endpoints USING btree (user_id);


--
-- Name: idx_install_tasks_status; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_install_tasks_status ON public.install_tasks USING btree (status);


--
-- Name: idx_plugin_declarations_plugin_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_plugin_declarations_plugin_id ON public.plugin_declarations USING btree (plugin_id);


--
-- Name: idx_plugin_installations_plugin_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_plugin_installations_plugin_id ON public.plugin_installations USING btree (plugin_id);


--
-- Name: idx_plugin_installations_plugin_unique_identifier; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_plugin_installations_plugin_unique_identifier ON public.plugin_installations USING btree (plugin_unique_identifier);


--
-- Name: idx_plugin_installations_tenant_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_plugin_installations_tenant_id ON public.plugin_installations USING btree (tenant_id);


--
-- Name: idx_plugin_readme_records_plugin_unique_identifier; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_plugin_readme_records_plugin_unique_identifier ON public.plugin_readme_records USING btree (plugin_unique_identifier);


--
-- Name: idx_plugin_unique_identifier; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX idx_plugin_unique_identifier ON public.plugins USING btree (plugin_unique_identifier);


--
-- Name: idx_plugins_install_type; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_plugins_install_type ON public.plugins USING btree (install_type);


--
-- Name: idx_plugins_plugin_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_plugins_plugin_id ON public.plugins USING btree (plugin_id);


--
-- Name: idx_serverless_runtimes_checksum; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_serverless_runtimes_checksum ON public.serverless_runtimes USING btree (checksum);


--
-- Name: idx_tenant_plugin; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX idx_tenant_plugin ON public.plugin_installations USING btree (tenant_id, plugin_id);


--
-- Name: idx_tenant_storages_plugin_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_tenant_storages_plugin_id ON public.tenant_storages USING btree (plugin_id);


--
-- Name: idx_tenant_storages_tenant_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_tenant_storages_tenant_id ON public.tenant_storages USING btree (tenant_id);


--
-- Name: idx_tool_installations_plugin_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_tool_installations_plugin_id ON public.tool_installations USING btree (plugin_id);


--
-- Name: idx_tool_installations_plugin_unique_identifier; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_tool_installations_plugin_unique_identifier ON public.tool_installations USING btree (plugin_unique_identifier);


--
-- Name: idx_tool_installations_provider; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_tool_installations_provider ON public.tool_installations USING btree (provider);


--
-- Name: idx_tool_installations_tenant_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_tool_installations_tenant_id ON public.tool_installations USING btree (tenant_id);


--
-- Name: idx_trigger_installations_plugin_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_trigger_installations_plugin_id ON public.trigger_installations USING btree (plugin_id);


--
-- Name: idx_trigger_installations_plugin_unique_identifier; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_trigger_installations_plugin_unique_identifier ON public.trigger_installations USING btree (plugin_unique_identifier);


--
-- Name: idx_trigger_installations_provider; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_trigger_installations_provider ON public.trigger_installations USING btree (provider);


--
-- Name: idx_trigger_installations_tenant_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_trigger_installations_tenant_id ON public.trigger_installations USING btree (tenant_id);


--
-- PostgreSQL database dump complete
--

\unrestrict FecHJSjmNyIYBVDb1m5HlTQWUKEVgV311F0DGuOwPTjM3UbrFlV9cexjyegw0MG

