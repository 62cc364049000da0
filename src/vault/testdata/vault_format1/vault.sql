PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);
INSERT INTO meta VALUES('format_version','1');
INSERT INTO meta VALUES('tenant_id','76333fcd-3cb2-4b13-8ca5-878677fbfb96');
INSERT INTO meta VALUES('resource','https://vault.pgcmk.local');
INSERT INTO meta VALUES('retention_days','7');
INSERT INTO meta VALUES('purge_protection','0');
INSERT INTO meta VALUES('token_kid','3a70fe24279aa2248fa717b5dbbc471e');
CREATE TABLE keys(
  name_lc TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  deleted_date INTEGER,
  scheduled_purge_date INTEGER,
  rotation_policy TEXT,
  last_notify INTEGER);
INSERT INTO keys VALUES('kek1','kek1',NULL,NULL,NULL,NULL);
CREATE TABLE key_versions(
  name_lc TEXT NOT NULL REFERENCES keys(name_lc) ON DELETE CASCADE,
  version TEXT NOT NULL,
  seq INTEGER NOT NULL,
  public_json TEXT NOT NULL,
  sealed_private BLOB NOT NULL,
  PRIMARY KEY(name_lc, version));
INSERT INTO key_versions VALUES('kek1','981d7ee2e350e688f47d11ac64f6b7cc',1,'{"attributes":{"created":1795854847,"enabled":true,"exportable":false,"updated":1795854847},"e":"AQAB","key_ops":["encrypt","decrypt","sign","verify","wrapKey","unwrapKey"],"key_size":2048,"kty":"RSA","n":"xLmz8Wpi7b6qY1MAoX-_xXysO5CcK99RyjZLp-p9PYvTdyK1FYKhlbGFCR8Pexh1nfDy7ibYDf858ywUrunieGPBTP8dNi27FSeiwbKtqRurqTeGBamwEkUbHIlrRyXY3iLLTvnSvskIqkStVLQzOH94cNueEaIEBIRsjbdvKKIhkN5uFHTUVY4m3BDrEizxsyW4zpf6NdprB209LXSbBF2neP-Vc1d-TLqeJTNxDs_Oec6FHVXqpihmDJgJS1Q0bbt_JeafBSDU63U4O6gPifYLrpkRsb6ndmZeSSXbSoWJQdgcRZjT2biJlSczN7fqgVw-UVsjHLDHDpk3_m7b2Q","tags":{}}',X'01127543ee4a55548ed0af7d89964f91bdb4c94506fb5b9ebb678981d51fef36b3151fce290226e57e8af263e544aec9ac3af298f3e6fc74ea02525031f57590b7ebaeb6899922924a25f7f904db728eb26a021cbceac52b3fe95f333c73302f2ff80976e6b4e86200b431620c75e3ce1adae983ef1788fdfc6e4b27568f74b3d6833147415f5cb2187192be2e7d1694fec8a10ed97aa41f9445315cabbda9cf6a1f0e3532241e350623ab7408576335ebf47fd872163b3851064330c0722cac38508fc3d115586b172692025c1473db05d61b09831b432386ddb12c051f6ccb77bf98c22716bf1ad32b2e143bc5bb7b2579b086faeaad163030198a31e820af41f2246173db497b551bd6f9d5886c662b51e6fe47fc29910f835b7f92889a17e245caa6ed1936834c90e5dd452540a88c940dd5a999a04252ca89eb1b7271a9c66445b235cbf059c07968467e5c3cb9a418797d3676785576ee80e992851118a3648e4a3134e0fd95e49989b58b96decd924bd055827bc50463eff2a63c692ef170da7412cc19823c84403cdc2c1e495010a7fc10a9f472b44cc6c07cd33aed1bbfbb4e8e3772b036e61fdfadd55bfd17af94896bf405a36fa77e9b8d5650ea682ba0d882bfe1e9d5599ddb3139c7cb9f4e6c031d3b45bb2deff76d5f67dba82d9911aa528afd213a7e627a915d7d93dcade880c61e18e61506491427a6cb2f2662e44543c49b4929dc4b113e3f1aa08143704237b967e20d8a92bad6ba0a8b11cc5aa2198e28a1a24e0563c6fda97085e5a404b07a3d9fc961f3fdd4ab81e6e667b9df02c10ec4c5ad3c0eebfd92c058831eef859c8cc5e2d409e2854c13cd73a8e959453f70afd408e73ad7d444984d177a90645b359d54f4c48a6dbc681b3cc1d13db9e500ccb2f4ef4300f390f55d8e24494a9a1f17cc673570dbebced8b5e46e68b456bf3b3f4a6bcfa50b65dec52c4b686a1ba3b539d4739514f8965a9ddc9ba777e92d2a8f98054f15e0c56015c6b36ac048424ea819c530db548e08122f7e7915ad8a52676540ec76caf1e671c85ec2fa96e5d8245e2ee318664a9e16dcab33d3e4c90befe08a6c3a66f1b53a68c3d7be30f37b73701cccfce95847d289cd4d89bcf03d7b66598f6483cca4e4f729a8ee2b53830b793569a772e4ee3251989b6e26fd7d1c5cc47f2b2f985adda24cdc2c3b260a25595f69b30f581464594ed1005808bba88c0e2955a3c2302b9a3ddcdaba357a58e7ba16e4cba548633d6f67518930832bb990b6aeeb507796cc3d8f8adb9fae7642a155738c92ecf957f71db8b21a125abc74badb15e5fa5f6c9862c9ac5320e4f9174a80772b9bfaca923924b9ea50b25921edc5e720822b66fdc7dcb1aaeac1dfcfb1db934a79d63b07a63ed83f71c34d14ba249f151f4b3d29a68cf563cb001c90fbc21c99b819add352b26a3fadc6b723b29c420e77e7c78ed1ad086f49e06baa85aa1915e13fbed819fdf1b0b4a216fd22cfd7beabeddb977398af19cf637a4386b3c9e824ab62c4afe306689c3a468e1832fb090552a15441fecec77553c27bbb1fffa597f5ab3f95db59aae850c34796987291353e724bb394f47c79cf37a2fcdcea4c56a02efc5fb865c43fb4d66f4dcd06b5a7a3fe51de3d8cc91ffef9f0dfc4285f0a5a0202cfe440fc54c55b4707db0d98c3a0f3b888b5fc5c4e2b05c4539ca8f1a3a381141165ea25b79f3b01527f1b104bf68b0a6181ad76f59a4b23ddc4895a2e');
CREATE TABLE identities(
  name_lc TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  client_id TEXT NOT NULL UNIQUE,
  object_id TEXT NOT NULL UNIQUE,
  secret_hash BLOB NOT NULL,
  enabled INTEGER NOT NULL,
  admin INTEGER NOT NULL,
  created INTEGER NOT NULL,
  secret_generation INTEGER NOT NULL);
INSERT INTO identities VALUES('admin','admin','3bee3e4e-5497-44c9-bccc-e44c1a00626d','4bcfaf61-3e5f-49ee-ba2b-2e985b8f671c',X'29e7580705237ba74d56e8c58bfa09a396e3537a51deb8187090c54deefde077',1,1,1795854846,1);
INSERT INTO identities VALUES('app1','app1','13b41353-6066-474b-9015-5dc38f5f3610','fa27adf8-45dd-4b55-bd4b-7f5a289f2910',X'c2dd259f24a5eefcd45b5a23be449c0bdfcd5e2fa97f9ea28c512eb49c54bb82',1,0,1795854846,1);
CREATE TABLE policies(
  object_id TEXT PRIMARY KEY REFERENCES identities(object_id) ON DELETE CASCADE,
  key_permissions INTEGER NOT NULL,
  roles TEXT NOT NULL);
INSERT INTO policies VALUES('fa27adf8-45dd-4b55-bd4b-7f5a289f2910',0,'["Key Vault Crypto Service Encryption User"]');
CREATE TABLE token_keys(
  kid TEXT PRIMARY KEY,
  sealed_private BLOB NOT NULL,
  created INTEGER NOT NULL);
INSERT INTO token_keys VALUES('3a70fe24279aa2248fa717b5dbbc471e',X'015d08f20d8ca4a6b0c6f6853bdbf5c370d5178781593e93bd77103aa1b93d4991cd4a0b6bf09b3136fcf3cbfedf1c1b500b9ceec5dd8d1a900f7043203075fda7f737de7af801dfb78e8201da5e96b16c39bb22ec9d1f41ed396df5e1ecc9a9baef7f4cdc5a04a93a7f93f9ba1491840a3dda3e443bcee3af1befaea0b786064fe522f96a803bed5361e087b10698622b7da0e7668399023a2da9d548bc45c361148fde196eaea1e1cedd50cb00a108821633abe2827a066d6666be3510b8dc8af1ba8075b620606df938486641e97a2a9e93e7eec849bac589a767700877ce8b424832cb6b017be91d4884fec891fe1cdf41d1a1a8edcc9e5d5323b4d3b08cdc96afc567237f005977719a30c29dcb486dd89051785cf737c4dd60c412fb674d222b48a22723c5753a7ea558be70b502b24186f07aa16b5b6cad0f5ca448448e7952bc52b1fc9a687f2b0f241166c5a42ec12012444169c092c0d03767f79d5182035c3174c6f0bc0e92578888e157323bda1c45dd394ad2f5e6fd60a334fecf20a962354e7286416cc2d652047e1bda2622f176015c8e9159f9f8f6d13230c07e3600665e049198ef44421588297d695e0c745e20692bb4ac553590ef90306eada0b9a6d2ef07871d8febd3d4f441ceb546310d484a8ba460e74810746c7cb47868686d0be970ffb5e88a590b7686ab244fedc417ee5e7a6226c8ef440d253961a71511492e2c5ac6bb3584d0ada9ba83818ce10b7d774471b50f5b1e699322dc9a8f8dc484a6b419ee9564b77b207fcfd602f986ceb77beb4704b9e51b9fcc6839920abaa7cbbdd267f91c97f496da491718e50ea53c09f4392f98c87563a2d1d64a01c401ceef661488d166b06650fdade6de79582c66c996a6f4394406cd056ff6eb3f1729c1202a6fd34519c312de7a41d3aeb4edfa24da9fa5252c2267cf72bc4b456dbc6a586cffedfe42556863b8ec0848a0673b8822560f19ebaf5eaebd2d45a63a4adb2538bb863a7b6acb3630aa11c7c559b0d5297e268c21fdf7a2c2d65faf87389067d7916f61d9124280f0d505482834ac94ff56b7b1675dd0603833546470cbc74e2fc5a3bf1c801a19bee58d09ebdcd1b8247085a6d33362778db2b3508c1f4a84e6891fffdc25d87200d9511c607be94b879983c3c1a5224538214e85f031860fbd1149ff07d1f416ff728d675de39163c50cb2bb9aa162e38ce359235f6dbd6bfea5b26cc3aedb3e43b58641554fb2a186378cdd30539da8ef5302b433f73960eef0c3d898fb59ec7a82441d02e4f974ea455fa072fc345c4a4ef2e72ffd899f99aad0a5340628e8f5d7910491aa030d39690e90db0b1546c197d8c7fd19eee6e8505d96c02c7b077539c3833671dd4b5db6de10ced7b7579d4c6a47c1426e4c4d972e1e523962d7d4a9c641e71067a23b3e8d22c47fb4010f05c8ec98598ecc52c4df80f0bbd1237a21c8e9022d6b5c1962af9fae4914e7e68647a675a8d988f0c2e338b51af9775e6bd9d1444f90556b1f035b7d74080eba028f1d8a9a4ca444eab5a32cde7455472ac43095f308a439b1f042baf4810726774d145eb7cdb3ba1223367429900020429a7158c5b7d4cb5f156a003eb2a55d32c66db3f1f42f8469b6330148495bb85c48222859dba1a081edaa2c99970f13898dad2ca31820ed7d870ecd9cae8931aa86ed28b58a17c298543c9fc741f3eb55ee951e538a8b5af9eb984176c8e293b5371515ab4b84bb58d0bf',1795854846);
CREATE TABLE tls_material(
  name TEXT PRIMARY KEY,
  certificate_pem TEXT NOT NULL,
  sealed_key BLOB NOT NULL);
CREATE TABLE audit(
  seq INTEGER PRIMARY KEY,
  record TEXT NOT NULL,
  mac BLOB NOT NULL);
INSERT INTO audit VALUES(1,'{"category":"AuditEvent","identity":{"appid":"3bee3e4e-5497-44c9-bccc-e44c1a00626d","name":"admin","oid":"4bcfaf61-3e5f-49ee-ba2b-2e985b8f671c"},"operationName":"VaultInitialize","properties":{"clientInfo":"pgcmk vault init"},"resultCode":"OK","resultType":"Success","time":"2026-11-28T08:34:06.630838Z","timeUnix":1795854846}',X'da4ff30267ec9abb95559cb5388ca1d8bfff1468e334ffed8a48319cc01e3893');
INSERT INTO audit VALUES(2,'{"callerIpAddress":"127.0.0.1","category":"AuditEvent","correlationId":"","durationMs":0,"identity":{"appid":"3bee3e4e-5497-44c9-bccc-e44c1a00626d","name":"admin","oid":"4bcfaf61-3e5f-49ee-ba2b-2e985b8f671c"},"operationName":"Authentication","operationVersion":"","properties":{"clientInfo":"cpp-httplib/0.11.4","httpStatusCode":200,"requestUri":"/76333fcd-3cb2-4b13-8ca5-878677fbfb96/oauth2/v2.0/token"},"requestId":"4208298d-3853-bf57-57ef-7bee10985fa5","resultCode":"OK","resultSignature":"OK","resultType":"Success","time":"2026-11-28T08:34:06.871073Z","timeUnix":1795854846}',X'879d5b2e161f6310aaae2fdff0b20a4e5727889333a3f5c52b89c46a635ed8a3');
INSERT INTO audit VALUES(3,'{"callerIpAddress":"127.0.0.1","category":"AuditEvent","correlationId":"","durationMs":0,"identity":{"appid":"3bee3e4e-5497-44c9-bccc-e44c1a00626d","name":"admin","oid":"4bcfaf61-3e5f-49ee-ba2b-2e985b8f671c"},"operationName":"IdentityCreate","operationVersion":"","properties":{"clientInfo":"pgcmk-vault-cli","httpStatusCode":200,"id":"identities/app1","requestUri":"/admin/identities"},"requestId":"4e744f87-91e3-7363-c061-ce3462ac3b00","resultCode":"OK","resultSignature":"OK","resultType":"Success","time":"2026-11-28T08:34:06.959223Z","timeUnix":1795854846}',X'e90e85c64d0d09e426db90e7a860c4c9e93163fbaec895570f709059c768f1d8');
INSERT INTO audit VALUES(4,'{"callerIpAddress":"127.0.0.1","category":"AuditEvent","correlationId":"","durationMs":0,"identity":{"appid":"3bee3e4e-5497-44c9-bccc-e44c1a00626d","name":"admin","oid":"4bcfaf61-3e5f-49ee-ba2b-2e985b8f671c"},"operationName":"Authentication","operationVersion":"","properties":{"clientInfo":"cpp-httplib/0.11.4","httpStatusCode":200,"requestUri":"/76333fcd-3cb2-4b13-8ca5-878677fbfb96/oauth2/v2.0/token"},"requestId":"081e76ac-17a9-54c3-231e-1fd1bdadfe70","resultCode":"OK","resultSignature":"OK","resultType":"Success","time":"2026-11-28T08:34:07.008933Z","timeUnix":1795854847}',X'c43d2b2953d2924ee929e1d82213850f4598338cc58741e7fa3cc784b9303b92');
INSERT INTO audit VALUES(5,'{"callerIpAddress":"127.0.0.1","category":"AuditEvent","correlationId":"","durationMs":631,"identity":{"appid":"3bee3e4e-5497-44c9-bccc-e44c1a00626d","name":"admin","oid":"4bcfaf61-3e5f-49ee-ba2b-2e985b8f671c"},"operationName":"KeyCreate","operationVersion":"7.6","properties":{"clientInfo":"pgcmk-vault-cli","httpStatusCode":200,"id":"http://127.0.0.1:32771/keys/kek1/981d7ee2e350e688f47d11ac64f6b7cc","requestUri":"/keys/kek1/create?api-version=7.6"},"requestId":"8781a7e2-66d6-a874-9769-e8b7f28bc12b","resultCode":"OK","resultSignature":"OK","resultType":"Success","time":"2026-11-28T08:34:07.678365Z","timeUnix":1795854847}',X'1c0b403b845e41cfb7c172a140f9d952f9cb68196b6400e2bd95b221dd69915c');
INSERT INTO audit VALUES(6,'{"callerIpAddress":"127.0.0.1","category":"AuditEvent","correlationId":"","durationMs":0,"identity":{"appid":"3bee3e4e-5497-44c9-bccc-e44c1a00626d","name":"admin","oid":"4bcfaf61-3e5f-49ee-ba2b-2e985b8f671c"},"operationName":"Authentication","operationVersion":"","properties":{"clientInfo":"cpp-httplib/0.11.4","httpStatusCode":200,"requestUri":"/76333fcd-3cb2-4b13-8ca5-878677fbfb96/oauth2/v2.0/token"},"requestId":"8d2f1ae3-6e37-fd0d-598a-33a4fc0bd5b4","resultCode":"OK","resultSignature":"OK","resultType":"Success","time":"2026-11-28T08:34:07.762691Z","timeUnix":1795854847}',X'7a17ff443a85f8f4420d5961e735619764f4d59e32f781a3dd5b533cc6547e64');
INSERT INTO audit VALUES(7,'{"callerIpAddress":"127.0.0.1","category":"AuditEvent","correlationId":"","durationMs":0,"identity":{"appid":"3bee3e4e-5497-44c9-bccc-e44c1a00626d","name":"admin","oid":"4bcfaf61-3e5f-49ee-ba2b-2e985b8f671c"},"operationName":"VaultAccessPolicySet","operationVersion":"","properties":{"clientInfo":"pgcmk-vault-cli","httpStatusCode":200,"id":"policies/app1","requestUri":"/admin/policies/app1"},"requestId":"d74e5794-33fe-9472-d67d-2a0525b5aa42","resultCode":"OK","resultSignature":"OK","resultType":"Success","time":"2026-11-28T08:34:07.770577Z","timeUnix":1795854847}',X'f449960fa60354e9a526e716afbb48f84fbf17b4c1520a4a7f087bf7d873ed28');
CREATE INDEX key_versions_by_seq ON key_versions(name_lc, seq);
COMMIT;
