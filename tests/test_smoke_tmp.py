async def test_pk_signs_in_and_reads_own_client(client, office, sign_in):
    me = await sign_in(client, "pk1")
    assert me["role"] == "pk"
    resp = await client.get(f"/api/clients/{office.clients['c1'].id}")
    assert resp.status == 200
    resp = await client.get(f"/api/clients/{office.clients['c2'].id}")
    assert resp.status == 404
