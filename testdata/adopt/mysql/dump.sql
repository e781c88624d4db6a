
/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */;
/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */;
/*!40101 SET NAMES utf8mb4 */;
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;
DROP TABLE IF EXISTS `agent_strategy_installations`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `agent_strategy_installations` (
  `id` char(36) NOT NULL,
  `created_at` datetime(3) DEFAULT NULL,
  `updated_at` datetime(3) DEFAULT NULL,
  `tenant_id` char(36) NOT NULL,
  `provider` varchar(127) NOT NULL,
  `plugin_unique_identifier` varchar(255) DEFAULT NULL,
  `plugin_id` varchar(255) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_agent_strategy_installations_tenant_id` (`tenant_id`),
  KEY `idx_agent_strategy_installations_provider` (`provider`),
  KEY `idx_agent_strategy_installations_plugin_unique_identifier` (`plugin_unique_identifier`),
  KEY `idx_agent_strategy_installations_plugin_id` (`plugin_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

/*!40000 ALTER TABLE `agent_strategy_installations` DISABLE KEYS */;
/*!40000 ALTER TABLE `agent_strategy_installations` ENABLE KEYS */;
DROP TABLE IF EXISTS `ai_model_installations`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `ai_model_installations` (
  `id` char(36) NOT NULL,
  `created_at` datetime(3) DEFAULT NULL,
  `updated_at` datetime(3) DEFAULT NULL,
  `provider` varchar(127) NOT NULL,
  `tenant_id` char(36) NOT NULL,
  `plugin_unique_identifier` varchar(255) DEFAULT NULL,
  `plugin_id` varchar(255) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_ai_model_installations_provider` (`provider`),
  KEY `idx_ai_model_installations_tenant_id` (`tenant_id`),
  KEY `idx_ai_model_installations_plugin_unique_identifier` (`plugin_unique_identifier`),
  KEY `idx_ai_model_installations_plugin_id` (`plugin_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

/*!40000 ALTER TABLE `ai_model_installations` DISABLE KEYS */;
/*!40000 ALTER TABLE `ai_model_installations` ENABLE KEYS */;
DROP TABLE IF EXISTS `datasource_installations`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `datasource_installations` (
  `id` char(36) NOT NULL,
  `created_at` datetime(3) DEFAULT NULL,
  `updated_at` datetime(3) DEFAULT NULL,
  `tenant_id` char(36) NOT NULL,
  `provider` varchar(127) NOT NULL,
  `plugin_unique_identifier` varchar(255) DEFAULT NULL,
  `plugin_id` varchar(255) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_datasource_installations_tenant_id` (`tenant_id`),
  KEY `idx_datasource_installations_provider` (`provider`),
  KEY `idx_datasource_installations_plugin_unique_identifier` (`plugin_unique_identifier`),
  KEY `idx_datasource_installations_plugin_id` (`plugin_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

/*!40000 ALTER TABLE `datasource_installations` DISABLE KEYS */;
/*!40000 ALTER TABLE `datasource_installations` ENABLE KEYS */;
DROP TABLE IF EXISTS `endpoints`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `endpoints` (
  `id` char(36) NOT NULL,
  `created_at` datetime(3) DEFAULT NULL,
  `updated_at` datetime(3) DEFAULT NULL,
  `name` varchar(127) DEFAULT 'default',
  `hook_id` varchar(127) DEFAULT NULL,
  `tenant_id` varchar(64) DEFAULT NULL,
  `user_id` varchar(64) DEFAULT NULL,
  `plugin_id` varchar(64) DEFAULT NULL,
  `expired_at` datetime(3) DEFAULT NULL,
  `enabled` tinyint(1) DEFAULT NULL,
  `settings` longtext DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uni_endpoints_hook_id` (`hook_id`),
  KEY `idx_endpoints_tenant_id` (`tenant_id`),
  KEY `idx_endpoints_user_id` (`user_id`),
  KEY `idx_endpoints_plugin_id` (`plugin_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

/*!40000 ALTER TABLE `endpoints` DISABLE KEYS */;
INSERT INTO `endpoints` VALUES ('01a251ce-6c0d-72fb-bc06-bf4807a1bcae','2026-12-07 18:40:12.301','2026-12-07 18:40:12.313','kv-a','269d9tlrbtorksqi','0b9a3ac4-7c3e-4c55-9a55-7c0c5a6f0a01','7e1c2d3b-4a5f-4e6d-9c8b-1a2b3c4d5e6f','plugd/adoptkv','2050-01-01 00:00:00.000',1,'{\"api_key\":\"enc:sk-tenant-a-secret\",\"greeting\":\"hello\"}');
INSERT INTO `endpoints` VALUES ('01a251ce-6c1f-7843-ab2f-fe26cc9cc567','2026-12-07 18:40:12.320','2026-12-07 18:40:12.324','kv-b','9wpyuylw7z31aptd','5d2f4e17-90f1-4f3b-8a0d-3c9a1d2e0b02','7e1c2d3b-4a5f-4e6d-9c8b-1a2b3c4d5e6f','plugd/adoptkv','2050-01-01 00:00:00.000',1,'{\"api_key\":\"enc:short\",\"greeting\":\"hola\"}');
INSERT INTO `endpoints` VALUES ('01a251ce-6c25-7df2-86a6-6f685f0fa9ef','2026-12-07 18:40:12.326','2026-12-07 18:40:12.340','echo-a','pzeqwp15tgaul5vm','0b9a3ac4-7c3e-4c55-9a55-7c0c5a6f0a01','7e1c2d3b-4a5f-4e6d-9c8b-1a2b3c4d5e6f','plugd/e2etool','2050-01-01 00:00:00.000',0,'{}');
/*!40000 ALTER TABLE `endpoints` ENABLE KEYS */;
DROP TABLE IF EXISTS `install_tasks`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `install_tasks` (
  `id` char(36) NOT NULL,
  `created_at` datetime(3) DEFAULT NULL,
  `updated_at` datetime(3) DEFAULT NULL,
  `status` varchar(50) NOT NULL,
  `tenant_id` char(36) NOT NULL,
  `total_plugins` bigint(20) NOT NULL,
  `completed_plugins` bigint(20) NOT NULL,
  `plugins` longtext DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_install_tasks_status` (`status`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

/*!40000 ALTER TABLE `install_tasks` DISABLE KEYS */;
INSERT INTO `install_tasks` VALUES ('01a251cc-3a34-7d16-857d-82352df92852','2026-12-07 18:37:48.469','2026-12-07 18:40:09.050','success','0b9a3ac4-7c3e-4c55-9a55-7c0c5a6f0a01',3,3,'[{\"plugin_unique_identifier\":\"plugd/adoptkv:0.0.1@5b82459ce102fcf9109d9c6867a506b0955ba1e58defa786fd518157da78d729\",\"labels\":{\"en_US\":\"Adopt KV\"},\"icon\":\"1b1b006176d69109f8b122516826b710e6fc225519bba013a16e0d069c1fd05e.svg\",\"icon_dark\":\"a2cac344824e6c832619f17889761fbba4968c6ee26dfa43e5e4da37ae318c38.svg\",\"plugin_id\":\"plugd/adoptkv\",\"status\":\"success\",\"message\":\"installed\",\"source\":\"package\"},{\"plugin_unique_identifier\":\"plugd/e2etool:0.0.1@8e59459ae9873c63a52e2d094d00f558837feafa3b6a5effe66925c1b1bbfb65\",\"labels\":{\"en_US\":\"E2E tool\"},\"icon\":\"1b1b006176d69109f8b122516826b710e6fc225519bba013a16e0d069c1fd05e.svg\",\"icon_dark\":\"a2cac344824e6c832619f17889761fbba4968c6ee26dfa43e5e4da37ae318c38.svg\",\"plugin_id\":\"plugd/e2etool\",\"status\":\"success\",\"message\":\"installed\",\"source\":\"package\"},{\"plugin_unique_identifier\":\"test/echo:0.0.1@20a6b69bf49ca85b63f1f3ac3dbd0afd1a640025a9fabb4c4646f823e18d0ed5\",\"labels\":{\"en_US\":\"Echo\"},\"icon\":\"9dbae4c7739b897a2b4158a08c0089b0299cb328a3efc31ceae4889b583f1f1a.svg\",\"icon_dark\":\"\",\"plugin_id\":\"test/echo\",\"status\":\"success\",\"message\":\"installed\",\"source\":\"package\"}]');
INSERT INTO `install_tasks` VALUES ('01a251ce-640c-74cd-8092-f7825605ffdc','2026-12-07 18:40:10.252','2026-12-07 18:40:10.275','success','5d2f4e17-90f1-4f3b-8a0d-3c9a1d2e0b02',2,2,'[{\"plugin_unique_identifier\":\"plugd/adoptkv:0.0.1@5b82459ce102fcf9109d9c6867a506b0955ba1e58defa786fd518157da78d729\",\"labels\":{\"en_US\":\"Adopt KV\"},\"icon\":\"1b1b006176d69109f8b122516826b710e6fc225519bba013a16e0d069c1fd05e.svg\",\"icon_dark\":\"a2cac344824e6c832619f17889761fbba4968c6ee26dfa43e5e4da37ae318c38.svg\",\"plugin_id\":\"plugd/adoptkv\",\"status\":\"success\",\"message\":\"installed\",\"source\":\"package\"},{\"plugin_unique_identifier\":\"test/echo:0.0.1@20a6b69bf49ca85b63f1f3ac3dbd0afd1a640025a9fabb4c4646f823e18d0ed5\",\"labels\":{\"en_US\":\"Echo\"},\"icon\":\"9dbae4c7739b897a2b4158a08c0089b0299cb328a3efc31ceae4889b583f1f1a.svg\",\"icon_dark\":\"\",\"plugin_id\":\"test/echo\",\"status\":\"success\",\"message\":\"installed\",\"source\":\"package\"}]');
/*!40000 ALTER TABLE `install_tasks` ENABLE KEYS */;
DROP TABLE IF EXISTS `plugin_declarations`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `plugin_declarations` (
  `id` char(36) NOT NULL,
  `created_at` datetime(3) DEFAULT NULL,
  `updated_at` datetime(3) DEFAULT NULL,
  `plugin_unique_identifier` varchar(255) DEFAULT NULL,
  `plugin_id` varchar(255) DEFAULT NULL,
  `declaration` longtext DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uni_plugin_declarations_plugin_unique_identifier` (`plugin_unique_identifier`),
  KEY `idx_plugin_declarations_plugin_id` (`plugin_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

/*!40000 ALTER TABLE `plugin_declarations` DISABLE KEYS */;
INSERT INTO `plugin_declarations` VALUES ('01a251cc-399c-7dcc-a708-dff5acb535e4','2026-12-07 18:37:48.317','2026-12-07 18:37:48.317','plugd/adoptkv:0.0.1@5b82459ce102fcf9109d9c6867a506b0955ba1e58defa786fd518157da78d729','plugd/adoptkv','{\"version\":\"0.0.1\",\"type\":\"plugin\",\"author\":\"plugd\",\"name\":\"adoptkv\",\"label\":{\"en_US\":\"Adopt KV\"},\"description\":{\"en_US\":\"Reads and writes plugin storage, for plugd adopt\'s fixture.\"},\"icon\":\"1b1b006176d69109f8b122516826b710e6fc225519bba013a16e0d069c1fd05e.svg\",\"icon_dark\":\"a2cac344824e6c832619f17889761fbba4968c6ee26dfa43e5e4da37ae318c38.svg\",\"resource\":{\"memory\":268435456,\"permission\":{\"endpoint\":{\"enabled\":true},\"storage\":{\"enabled\":true,\"size\":4096}}},\"plugins\":{\"tools\":[\"provider/adoptkv.yaml\"],\"models\":null,\"endpoints\":[\"group/adoptkv.yaml\"],\"agent_strategies\":null,\"datasources\":null,\"triggers\":null},\"meta\":{\"version\":\"0.0.1\",\"arch\":[\"amd64\",\"arm64\"],\"runner\":{\"language\":\"python\",\"version\":\"3.11\",\"entrypoint\":\"main\"},\"minimum_dify_version\":null},\"tags\":[\"utilities\"],\"created_at\":\"2026-01-01T00:00:00Z\",\"privacy\":\"PRIVACY.md\",\"verified\":false,\"endpoint\":{\"settings\":[{\"name\":\"api_key\",\"type\":\"secret-input\",\"scope\":null,\"required\":true,\"default\":null,\"options\":null,\"multiple\":false,\"label\":{\"en_US\":\"API key\"},\"help\":{\"en_US\":\"Reported back by the endpoint, to show the daemon decrypted it.\"},\"url\":null,\"placeholder\":null},{\"name\":\"greeting\",\"type\":\"text-input\",\"scope\":null,\"required\":false,\"default\":null,\"options\":null,\"multiple\":false,\"label\":{\"en_US\":\"Greeting\"},\"help\":null,\"url\":null,\"placeholder\":null}],\"endpoints\":[{\"path\":\"/kv/\\u003ckey\\u003e\",\"method\":\"GET\",\"hidden\":false},{\"path\":\"/kv/\\u003ckey\\u003e\",\"method\":\"POST\",\"hidden\":false}]},\"tool\":{\"identity\":{\"author\":\"plugd\",\"name\":\"adoptkv\",\"description\":{\"en_US\":\"Plugin storage through a tool.\"},\"icon\":\"1b1b006176d69109f8b122516826b710e6fc225519bba013a16e0d069c1fd05e.svg\",\"icon_dark\":\"a2cac344824e6c832619f17889761fbba4968c6ee26dfa43e5e4da37ae318c38.svg\",\"label\":{\"en_US\":\"Adopt KV\"},\"tags\":[\"utilities\"]},\"credentials_schema\":[],\"oauth_schema\":null,\"tools\":[{\"identity\":{\"author\":\"plugd\",\"name\":\"kv\",\"label\":{\"en_US\":\"KV\"}},\"description\":{\"human\":{\"en_US\":\"Gets or sets a key of plugin storage.\"},\"llm\":\"Gets (value empty) or sets a key of plugin storage and answers with what is stored.\"},\"parameters\":[{\"name\":\"key\",\"label\":{\"en_US\":\"Key\"},\"human_description\":{\"en_US\":\"The storage key.\"},\"type\":\"string\",\"scope\":null,\"form\":\"llm\",\"llm_description\":\"The storage key.\",\"required\":true,\"auto_generate\":null,\"template\":null,\"default\":null,\"min\":null,\"max\":null,\"multiple\":false,\"precision\":null,\"options\":null},{\"name\":\"value\",\"label\":{\"en_US\":\"Value\"},\"human_description\":{\"en_US\":\"When given, stored under the key first.\"},\"type\":\"string\",\"scope\":null,\"form\":\"llm\",\"llm_description\":\"When given, stored under the key first.\",\"required\":false,\"auto_generate\":null,\"template\":null,\"default\":null,\"min\":null,\"max\":null,\"multiple\":false,\"precision\":null,\"options\":null}],\"has_runtime_parameters\":false}]}}');
INSERT INTO `plugin_declarations` VALUES ('01a251cc-39a6-74cf-a1b2-69d3c831081e','2026-12-07 18:37:48.326','2026-12-07 18:37:48.326','plugd/e2etool:0.0.1@8e59459ae9873c63a52e2d094d00f558837feafa3b6a5effe66925c1b1bbfb65','plugd/e2etool','{\"version\":\"0.0.1\",\"type\":\"plugin\",\"author\":\"plugd\",\"name\":\"e2etool\",\"label\":{\"en_US\":\"E2E tool\"},\"description\":{\"en_US\":\"Echo tool and endpoint for plugd\'s end-to-end tests.\"},\"icon\":\"1b1b006176d69109f8b122516826b710e6fc225519bba013a16e0d069c1fd05e.svg\",\"icon_dark\":\"a2cac344824e6c832619f17889761fbba4968c6ee26dfa43e5e4da37ae318c38.svg\",\"resource\":{\"memory\":268435456,\"permission\":{\"endpoint\":{\"enabled\":true},\"storage\":{\"enabled\":true,\"size\":1048576}}},\"plugins\":{\"tools\":[\"provider/e2etool.yaml\"],\"models\":null,\"endpoints\":[\"endpoints/e2etool.yaml\"],\"agent_strategies\":null,\"datasources\":null,\"triggers\":null},\"meta\":{\"version\":\"0.0.1\",\"arch\":[\"amd64\",\"arm64\"],\"runner\":{\"language\":\"python\",\"version\":\"3.11\",\"entrypoint\":\"main\"},\"minimum_dify_version\":null},\"tags\":[\"utilities\"],\"created_at\":\"2026-01-01T00:00:00Z\",\"privacy\":\"PRIVACY.md\",\"verified\":false,\"endpoint\":{\"settings\":[],\"endpoints\":[{\"path\":\"/echo\",\"method\":\"POST\",\"hidden\":false},{\"path\":\"/echo\",\"method\":\"GET\",\"hidden\":false}]},\"tool\":{\"identity\":{\"author\":\"plugd\",\"name\":\"e2etool\",\"description\":{\"en_US\":\"Echo tool for plugd\'s end-to-end tests.\"},\"icon\":\"1b1b006176d69109f8b122516826b710e6fc225519bba013a16e0d069c1fd05e.svg\",\"icon_dark\":\"a2cac344824e6c832619f17889761fbba4968c6ee26dfa43e5e4da37ae318c38.svg\",\"label\":{\"en_US\":\"E2E tool\"},\"tags\":[\"utilities\"]},\"credentials_schema\":[{\"name\":\"api_key\",\"type\":\"secret-input\",\"scope\":null,\"required\":false,\"default\":null,\"options\":null,\"multiple\":false,\"label\":{\"en_US\":\"API key\"},\"help\":{\"en_US\":\"Any value but \\\"bad\\\" validates.\"},\"url\":null,\"placeholder\":null}],\"oauth_schema\":null,\"tools\":[{\"identity\":{\"author\":\"plugd\",\"name\":\"echo\",\"label\":{\"en_US\":\"Echo\"}},\"description\":{\"human\":{\"en_US\":\"Answers according to mode.\"},\"llm\":\"Echoes text back; mode selects text, json, sleep, error, storage or big.\"},\"parameters\":[{\"name\":\"text\",\"label\":{\"en_US\":\"Text\"},\"human_description\":{\"en_US\":\"The text to echo (seconds to sleep in sleep mode).\"},\"type\":\"string\",\"scope\":null,\"form\":\"llm\",\"llm_description\":\"The text to echo.\",\"required\":true,\"auto_generate\":null,\"template\":null,\"default\":null,\"min\":null,\"max\":null,\"multiple\":false,\"precision\":null,\"options\":null},{\"name\":\"mode\",\"label\":{\"en_US\":\"Mode\"},\"human_description\":{\"en_US\":\"text, json, sleep, error, storage or big.\"},\"type\":\"string\",\"scope\":null,\"form\":\"llm\",\"llm_description\":\"text, json, sleep, error, storage or big.\",\"required\":false,\"auto_generate\":null,\"template\":null,\"default\":null,\"min\":null,\"max\":null,\"multiple\":false,\"precision\":null,\"options\":null}],\"has_runtime_parameters\":false}]}}');
INSERT INTO `plugin_declarations` VALUES ('01a251cc-39d8-7ca0-9311-2c087c8e8ce8','2026-12-07 18:37:48.377','2026-12-07 18:37:48.377','test/echo:0.0.1@20a6b69bf49ca85b63f1f3ac3dbd0afd1a640025a9fabb4c4646f823e18d0ed5','test/echo','{\"version\":\"0.0.1\",\"type\":\"plugin\",\"author\":\"test\",\"name\":\"echo\",\"label\":{\"en_US\":\"Echo\"},\"description\":{\"en_US\":\"Echo plugin\"},\"icon\":\"9dbae4c7739b897a2b4158a08c0089b0299cb328a3efc31ceae4889b583f1f1a.svg\",\"icon_dark\":\"\",\"resource\":{\"memory\":1048576,\"permission\":{\"tool\":{\"enabled\":true},\"storage\":{\"enabled\":true,\"size\":1048576}}},\"plugins\":{\"tools\":[\"provider/echo.yaml\"],\"models\":null,\"endpoints\":null,\"agent_strategies\":null,\"datasources\":null,\"triggers\":null},\"meta\":{\"version\":\"0.0.1\",\"arch\":[\"amd64\"],\"runner\":{\"language\":\"python\",\"version\":\"3.11\",\"entrypoint\":\"main\"},\"minimum_dify_version\":null},\"tags\":[],\"created_at\":\"2024-01-01T00:00:00Z\",\"verified\":false,\"tool\":{\"identity\":{\"author\":\"test\",\"name\":\"echo\",\"description\":{\"en_US\":\"Echo provider\"},\"icon\":\"9dbae4c7739b897a2b4158a08c0089b0299cb328a3efc31ceae4889b583f1f1a.svg\",\"icon_dark\":\"\",\"label\":{\"en_US\":\"Echo\"},\"tags\":null},\"credentials_schema\":[],\"oauth_schema\":null,\"tools\":[{\"identity\":{\"author\":\"test\",\"name\":\"echo\",\"label\":{\"en_US\":\"Echo\"}},\"description\":{\"human\":{\"en_US\":\"Echo text\"},\"llm\":\"Echo text\"},\"parameters\":[{\"name\":\"text\",\"label\":{\"en_US\":\"Text\"},\"human_description\":{\"en_US\":\"text\"},\"type\":\"string\",\"scope\":null,\"form\":\"llm\",\"llm_description\":\"text\",\"required\":true,\"auto_generate\":null,\"template\":null,\"default\":null,\"min\":null,\"max\":null,\"multiple\":false,\"precision\":null,\"options\":null}],\"has_runtime_parameters\":false}]}}');
/*!40000 ALTER TABLE `plugin_declarations` ENABLE KEYS */;
DROP TABLE IF EXISTS `plugin_installations`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `plugin_installations` (
  `id` char(36) NOT NULL,
  `created_at` datetime(3) DEFAULT NULL,
  `updated_at` datetime(3) DEFAULT NULL,
  `tenant_id` char(36) DEFAULT NULL,
  `plugin_id` varchar(255) DEFAULT NULL,
  `plugin_unique_identifier` varchar(255) DEFAULT NULL,
  `runtime_type` varchar(127) DEFAULT NULL,
  `endpoints_setups` bigint(20) DEFAULT NULL,
  `endpoints_active` bigint(20) DEFAULT NULL,
  `source` varchar(63) DEFAULT NULL,
  `meta` longtext DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `idx_tenant_plugin` (`tenant_id`,`plugin_id`),
  KEY `idx_plugin_installations_tenant_id` (`tenant_id`),
  KEY `idx_plugin_installations_plugin_id` (`plugin_id`),
  KEY `idx_plugin_installations_plugin_unique_identifier` (`plugin_unique_identifier`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

/*!40000 ALTER TABLE `plugin_installations` DISABLE KEYS */;
INSERT INTO `plugin_installations` VALUES ('01a251cd-8d09-72d7-a08f-7a5367df4bd6','2026-12-07 18:39:15.209','2026-12-07 18:39:15.209','0b9a3ac4-7c3e-4c55-9a55-7c0c5a6f0a01','plugd/e2etool','plugd/e2etool:0.0.1@8e59459ae9873c63a52e2d094d00f558837feafa3b6a5effe66925c1b1bbfb65','local',1,0,'package','{}');
INSERT INTO `plugin_installations` VALUES ('01a251cd-9c0a-77c5-b3be-807d86d3cb67','2026-12-07 18:39:19.051','2026-12-07 18:39:19.051','0b9a3ac4-7c3e-4c55-9a55-7c0c5a6f0a01','test/echo','test/echo:0.0.1@20a6b69bf49ca85b63f1f3ac3dbd0afd1a640025a9fabb4c4646f823e18d0ed5','local',0,0,'package','{\"fixture\":\"a-echo\"}');
INSERT INTO `plugin_installations` VALUES ('01a251ce-5f58-76da-9f3d-4d7a81f99a01','2026-12-07 18:40:09.048','2026-12-07 18:40:09.048','0b9a3ac4-7c3e-4c55-9a55-7c0c5a6f0a01','plugd/adoptkv','plugd/adoptkv:0.0.1@5b82459ce102fcf9109d9c6867a506b0955ba1e58defa786fd518157da78d729','local',1,1,'package','{\"fixture\":\"a-kv\"}');
INSERT INTO `plugin_installations` VALUES ('01a251ce-6417-7167-915f-561e88b67006','2026-12-07 18:40:10.263','2026-12-07 18:40:10.263','5d2f4e17-90f1-4f3b-8a0d-3c9a1d2e0b02','plugd/adoptkv','plugd/adoptkv:0.0.1@5b82459ce102fcf9109d9c6867a506b0955ba1e58defa786fd518157da78d729','local',1,1,'package','{\"fixture\":\"b-kv\"}');
INSERT INTO `plugin_installations` VALUES ('01a251ce-6420-7d68-b61e-67195eae04b2','2026-12-07 18:40:10.273','2026-12-07 18:40:10.273','5d2f4e17-90f1-4f3b-8a0d-3c9a1d2e0b02','test/echo','test/echo:0.0.1@20a6b69bf49ca85b63f1f3ac3dbd0afd1a640025a9fabb4c4646f823e18d0ed5','local',0,0,'package','{}');
/*!40000 ALTER TABLE `plugin_installations` ENABLE KEYS */;
DROP TABLE IF EXISTS `plugin_readme_records`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `plugin_readme_records` (
  `id` char(36) NOT NULL,
  `created_at` datetime(3) DEFAULT NULL,
  `updated_at` datetime(3) DEFAULT NULL,
  `plugin_unique_identifier` varchar(255) NOT NULL,
  `language` varchar(10) NOT NULL,
  `content` longtext NOT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_plugin_readme_records_plugin_unique_identifier` (`plugin_unique_identifier`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

/*!40000 ALTER TABLE `plugin_readme_records` DISABLE KEYS */;
/*!40000 ALTER TABLE `plugin_readme_records` ENABLE KEYS */;
DROP TABLE IF EXISTS `plugins`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `plugins` (
  `id` char(36) NOT NULL,
  `created_at` datetime(3) DEFAULT NULL,
  `updated_at` datetime(3) DEFAULT NULL,
  `plugin_unique_identifier` varchar(255) DEFAULT NULL,
  `plugin_id` varchar(255) DEFAULT NULL,
  `refers` bigint(20) DEFAULT 0,
  `install_type` varchar(127) DEFAULT NULL,
  `manifest_type` varchar(127) DEFAULT NULL,
  `remote_declaration` longtext DEFAULT NULL,
  `source` varchar(63) DEFAULT '',
  PRIMARY KEY (`id`),
  UNIQUE KEY `idx_plugin_unique_identifier` (`plugin_unique_identifier`),
  KEY `idx_plugins_plugin_id` (`plugin_id`),
  KEY `idx_plugins_install_type` (`install_type`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

/*!40000 ALTER TABLE `plugins` DISABLE KEYS */;
INSERT INTO `plugins` VALUES ('01a251cd-8ce2-7a49-8d48-294db6f652cb','2026-12-07 18:39:15.171','2026-12-07 18:39:15.185','plugd/e2etool:0.0.1@8e59459ae9873c63a52e2d094d00f558837feafa3b6a5effe66925c1b1bbfb65','plugd/e2etool',1,'local','','{\"version\":\"\",\"type\":\"\",\"author\":\"\",\"name\":\"\",\"label\":{\"en_US\":\"\"},\"description\":{\"en_US\":\"\"},\"icon\":\"\",\"icon_dark\":\"\",\"resource\":{\"memory\":0},\"plugins\":{\"tools\":null,\"models\":null,\"endpoints\":null,\"agent_strategies\":null,\"datasources\":null,\"triggers\":null},\"meta\":{\"version\":\"\",\"arch\":null,\"runner\":{\"language\":\"\",\"version\":\"\",\"entrypoint\":\"\"},\"minimum_dify_version\":null},\"tags\":[],\"created_at\":\"0001-01-01T00:00:00Z\",\"verified\":false}','package');
INSERT INTO `plugins` VALUES ('01a251cd-9bf2-7154-b4ac-355f77ebebda','2026-12-07 18:39:19.026','2026-12-07 18:40:10.272','test/echo:0.0.1@20a6b69bf49ca85b63f1f3ac3dbd0afd1a640025a9fabb4c4646f823e18d0ed5','test/echo',2,'local','','{\"version\":\"\",\"type\":\"\",\"author\":\"\",\"name\":\"\",\"label\":{\"en_US\":\"\"},\"description\":{\"en_US\":\"\"},\"icon\":\"\",\"icon_dark\":\"\",\"resource\":{\"memory\":0},\"plugins\":{\"tools\":null,\"models\":null,\"endpoints\":null,\"agent_strategies\":null,\"datasources\":null,\"triggers\":null},\"meta\":{\"version\":\"\",\"arch\":null,\"runner\":{\"language\":\"\",\"version\":\"\",\"entrypoint\":\"\"},\"minimum_dify_version\":null},\"tags\":[],\"created_at\":\"0001-01-01T00:00:00Z\",\"verified\":false}','package');
INSERT INTO `plugins` VALUES ('01a251ce-5f55-72d1-8546-b03f944008a9','2026-12-07 18:40:09.045','2026-12-07 18:40:10.263','plugd/adoptkv:0.0.1@5b82459ce102fcf9109d9c6867a506b0955ba1e58defa786fd518157da78d729','plugd/adoptkv',2,'local','','{\"version\":\"\",\"type\":\"\",\"author\":\"\",\"name\":\"\",\"label\":{\"en_US\":\"\"},\"description\":{\"en_US\":\"\"},\"icon\":\"\",\"icon_dark\":\"\",\"resource\":{\"memory\":0},\"plugins\":{\"tools\":null,\"models\":null,\"endpoints\":null,\"agent_strategies\":null,\"datasources\":null,\"triggers\":null},\"meta\":{\"version\":\"\",\"arch\":null,\"runner\":{\"language\":\"\",\"version\":\"\",\"entrypoint\":\"\"},\"minimum_dify_version\":null},\"tags\":[],\"created_at\":\"0001-01-01T00:00:00Z\",\"verified\":false}','package');
/*!40000 ALTER TABLE `plugins` ENABLE KEYS */;
DROP TABLE IF EXISTS `serverless_runtimes`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `serverless_runtimes` (
  `id` char(36) NOT NULL,
  `created_at` datetime(3) DEFAULT NULL,
  `updated_at` datetime(3) DEFAULT NULL,
  `plugin_unique_identifier` varchar(255) DEFAULT NULL,
  `function_url` varchar(255) DEFAULT NULL,
  `function_name` varchar(127) DEFAULT NULL,
  `type` varchar(127) DEFAULT NULL,
  `checksum` varchar(127) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uni_serverless_runtimes_plugin_unique_identifier` (`plugin_unique_identifier`),
  KEY `idx_serverless_runtimes_checksum` (`checksum`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

/*!40000 ALTER TABLE `serverless_runtimes` DISABLE KEYS */;
/*!40000 ALTER TABLE `serverless_runtimes` ENABLE KEYS */;
DROP TABLE IF EXISTS `tenant_storages`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `tenant_storages` (
  `id` char(36) NOT NULL,
  `created_at` datetime(3) DEFAULT NULL,
  `updated_at` datetime(3) DEFAULT NULL,
  `tenant_id` varchar(255) NOT NULL,
  `plugin_id` varchar(255) NOT NULL,
  `size` bigint(20) NOT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_tenant_storages_tenant_id` (`tenant_id`),
  KEY `idx_tenant_storages_plugin_id` (`plugin_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

/*!40000 ALTER TABLE `tenant_storages` DISABLE KEYS */;
INSERT INTO `tenant_storages` VALUES ('01a251ce-6dbf-7139-82fa-e3bb60ca788f','2026-12-07 18:40:12.735','2026-12-07 18:40:12.735','0b9a3ac4-7c3e-4c55-9a55-7c0c5a6f0a01','plugd/adoptkv',37);
INSERT INTO `tenant_storages` VALUES ('01a251ce-6e05-7bea-92ec-e9bf8c036de0','2026-12-07 18:40:12.806','2026-12-07 18:40:12.806','5d2f4e17-90f1-4f3b-8a0d-3c9a1d2e0b02','plugd/adoptkv',18);
/*!40000 ALTER TABLE `tenant_storages` ENABLE KEYS */;
DROP TABLE IF EXISTS `tool_installations`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `tool_installations` (
  `id` char(36) NOT NULL,
  `created_at` datetime(3) DEFAULT NULL,
  `updated_at` datetime(3) DEFAULT NULL,
  `tenant_id` char(36) NOT NULL,
  `provider` varchar(127) NOT NULL,
  `plugin_unique_identifier` varchar(255) DEFAULT NULL,
  `plugin_id` varchar(255) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_tool_installations_tenant_id` (`tenant_id`),
  KEY `idx_tool_installations_provider` (`provider`),
  KEY `idx_tool_installations_plugin_unique_identifier` (`plugin_unique_identifier`),
  KEY `idx_tool_installations_plugin_id` (`plugin_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

/*!40000 ALTER TABLE `tool_installations` DISABLE KEYS */;
INSERT INTO `tool_installations` VALUES ('01a251cd-8d5c-7b1f-852f-8b2e02bea41b','2026-12-07 18:39:15.293','2026-12-07 18:39:15.293','0b9a3ac4-7c3e-4c55-9a55-7c0c5a6f0a01','e2etool','plugd/e2etool:0.0.1@8e59459ae9873c63a52e2d094d00f558837feafa3b6a5effe66925c1b1bbfb65','plugd/e2etool');
INSERT INTO `tool_installations` VALUES ('01a251cd-9c0c-7b04-b23d-01e5efbd8f28','2026-12-07 18:39:19.053','2026-12-07 18:39:19.053','0b9a3ac4-7c3e-4c55-9a55-7c0c5a6f0a01','echo','test/echo:0.0.1@20a6b69bf49ca85b63f1f3ac3dbd0afd1a640025a9fabb4c4646f823e18d0ed5','test/echo');
INSERT INTO `tool_installations` VALUES ('01a251ce-5f58-7dd0-8e69-8e3ffe9d1dd9','2026-12-07 18:40:09.049','2026-12-07 18:40:09.049','0b9a3ac4-7c3e-4c55-9a55-7c0c5a6f0a01','adoptkv','plugd/adoptkv:0.0.1@5b82459ce102fcf9109d9c6867a506b0955ba1e58defa786fd518157da78d729','plugd/adoptkv');
INSERT INTO `tool_installations` VALUES ('01a251ce-6418-7a85-994f-52dfff2c8ebc','2026-12-07 18:40:10.265','2026-12-07 18:40:10.265','5d2f4e17-90f1-4f3b-8a0d-3c9a1d2e0b02','adoptkv','plugd/adoptkv:0.0.1@5b82459ce102fcf9109d9c6867a506b0955ba1e58defa786fd518157da78d729','plugd/adoptkv');
INSERT INTO `tool_installations` VALUES ('01a251ce-6421-745d-ac88-97713e972af9','2026-12-07 18:40:10.273','2026-12-07 18:40:10.273','5d2f4e17-90f1-4f3b-8a0d-3c9a1d2e0b02','echo','test/echo:0.0.1@20a6b69bf49ca85b63f1f3ac3dbd0afd1a640025a9fabb4c4646f823e18d0ed5','test/echo');
/*!40000 ALTER TABLE `tool_installations` ENABLE KEYS */;
DROP TABLE IF EXISTS `trigger_installations`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `trigger_installations` (
  `id` char(36) NOT NULL,
  `created_at` datetime(3) DEFAULT NULL,
  `updated_at` datetime(3) DEFAULT NULL,
  `tenant_id` char(36) NOT NULL,
  `provider` varchar(127) NOT NULL,
  `plugin_unique_identifier` varchar(255) DEFAULT NULL,
  `plugin_id` varchar(255) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_trigger_installations_tenant_id` (`tenant_id`),
  KEY `idx_trigger_installations_provider` (`provider`),
  KEY `idx_trigger_installations_plugin_unique_identifier` (`plugin_unique_identifier`),
  KEY `idx_trigger_installations_plugin_id` (`plugin_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

/*!40000 ALTER TABLE `trigger_installations` DISABLE KEYS */;
/*!40000 ALTER TABLE `trigger_installations` ENABLE KEYS */;
/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;

/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;
/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;
/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;
/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;
/*!40101 SET CHARACTER_SET_RESULTS=@OLD_CHARACTER_SET_RESULTS */;
/*!40101 SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION */;
/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;

